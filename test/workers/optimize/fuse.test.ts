import t from 'tap';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SamplingParams } from '../../../protocol/chat.js';
import { Engine } from '../../../workers/engine/engine.js';
import { optimizeModel } from '../../../workers/optimize/optimize-model.js';
import { SHARED_MODELS, STORIES, tempHome } from '../../helpers/service.js';

const greedy: SamplingParams = { temperature: 0, topP: 1, topK: 0, presencePenalty: 0, frequencyPenalty: 0, maxTokens: 80, stop: [], ignoreEos: false };

async function texts(dir: string, prompts: string[], together: boolean): Promise<string[]> {
  const e = await Engine.create({ modelDir: dir, executionProvider: 'cpu', intraOpThreads: 1, maxBatch: 8, prefillChunk: 128 });
  try {
    const one = async (content: string) => {
      let text = '';
      await e.generate({ messages: [{ role: 'user', content }], sampling: greedy, cancel: new SharedArrayBuffer(4), emit: (ev) => { if (ev.type === 'delta') text += ev.text; } });
      return text;
    };
    if (together) return await Promise.all(prompts.map(one));
    const out = [];
    for (const p of prompts) out.push(await one(p));
    return out;
  } finally {
    await e.release();
  }
}

t.test('the fused stories260k graph gives the same greedy text, alone and batched', async (t) => {
  const root = tempHome();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const out = join(root, 'stories260k-fused');
  const r = await optimizeModel(STORIES, out, { id: 'stories260k-generic-cpu:1', alias: 'stories260k' });
  t.ok(r.nodesAfter < r.nodesBefore / 5, `${r.nodesBefore} -> ${r.nodesAfter} nodes`);
  t.ok(r.maxAbsDiff < 1e-3);
  t.match(JSON.parse(readFileSync(join(out, 'crucible.json'), 'utf8')), { id: 'stories260k-generic-cpu-fused:1', alias: 'stories260k-fused', fusedFrom: 'stories260k-generic-cpu:1' });
  t.equal(JSON.parse(readFileSync(join(out, 'genai_config.json'), 'utf8')).model.decoder.num_key_value_heads, 8, 'grouped KV heads are expanded');
  const prompts = ['Once upon a time', 'The cat', 'Lily and Tom went to the', 'One day'];
  const plain = await texts(STORIES, prompts, false);
  t.same(await texts(out, prompts, false), plain);
  t.same(await texts(out, prompts, true), plain, 'batched with left padding too');
  t.ok(plain[0].startsWith(', there was a little girl named Lily.'));
});

t.test('a model exported with shared (Identity) weights fuses too: bench15m', async (t) => {
  const root = tempHome();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const out = join(root, 'bench15m-fused');
  const r = await optimizeModel(join(SHARED_MODELS, 'bench15m'), out, { id: 'bench15m' });
  t.ok(r.maxAbsDiff < 1e-3, `max logit difference ${r.maxAbsDiff}`);
  t.same(await texts(out, ['Once upon a time'], false), await texts(join(SHARED_MODELS, 'bench15m'), ['Once upon a time'], false));
});

t.test('a model whose graph does not fit is refused and leaves nothing behind', async (t) => {
  const root = tempHome();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const broken = join(root, 'broken');
  mkdirSync(join(broken, 'onnx'), { recursive: true });
  cpSync(STORIES, broken, { recursive: true });
  // Metadata that disagrees with the graph: the weights no longer divide into the layers it names.
  const cfg = JSON.parse(readFileSync(join(broken, 'genai_config.json'), 'utf8'));
  cfg.model.decoder.num_hidden_layers = 4;
  writeFileSync(join(broken, 'genai_config.json'), JSON.stringify(cfg));
  await t.rejects(optimizeModel(broken, join(root, 'out'), { id: 'broken' }), /cannot fuse this model: expected 7 weight matrices per layer/);
  t.notOk(existsSync(join(root, 'out')));
  t.notOk(existsSync(join(root, 'out.partial')));
});
