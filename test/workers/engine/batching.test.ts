import t from 'tap';
import { rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { SamplingParams } from '../../../protocol/chat.js';
import { Engine } from '../../../workers/engine/engine.js';
import { writeBuilderModels, writeDequantizedReference } from '../../helpers/builder-models.js';
import { tempHome } from '../../helpers/service.js';

const greedy: SamplingParams = { temperature: 0, topP: 1, topK: 0, presencePenalty: 0, frequencyPenalty: 0, maxTokens: 50, stop: [], ignoreEos: false };
const PROMPTS = ['Once upon a time', 'The cat', 'Tom and Sue went to the big park with their dog and', 'A', 'Lily had a red ball. One day'];
const LENGTHS = [50, 17, 35, 44, 5];

const make = (dir: string, prefillChunk = 128) =>
  Engine.create({ modelDir: dir, executionProvider: 'cpu', intraOpThreads: 1, maxBatch: 8, prefillChunk });

async function run(e: Engine, content: string, maxTokens = 50, cancel = new SharedArrayBuffer(4)) {
  let text = '';
  let error = '';
  await e.generate({
    messages: [{ role: 'user', content }], sampling: { ...greedy, maxTokens }, cancel,
    emit: (ev) => { if (ev.type === 'delta') text += ev.text; if (ev.type === 'error') error = ev.error.code; },
  });
  return { text, error };
}

const root = tempHome('cru-builder-');
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const dirs = await writeBuilderModels(root);

for (const [kind, dir] of Object.entries(dirs)) {
  t.test(`${kind}: greedy text is the same alone and batched`, async (t) => {
    const e = await make(dir);
    t.teardown(() => e.release());
    if (kind !== 'plain' && kind !== 'fused') t.match(e.facts, { attention: 'gqa' }, 'batching follows the GroupQueryAttention form');
    t.equal(e.facts.cacheType, kind === 'fp16' || kind === 'q4f16' ? 'float16' : 'float32');
    const alone = [];
    for (const [i, p] of PROMPTS.entries()) alone.push((await run(e, p, LENGTHS[i])).text);
    t.ok(alone[0].includes('Lily') || alone[0].includes('girl') || alone[0].includes('time'), `real story text: ${JSON.stringify(alone[0].slice(0, 80))}`);
    // Arriving together: prefilled as one padded block, then decoded in one batch.
    const together = await Promise.all(PROMPTS.map((p, i) => run(e, p, LENGTHS[i])));
    t.same(together.map((r) => r.text), alone, 'prompts of different lengths, prefilled and decoded together');

    // Sequences joining mid-flight and leaving early, and a cancel inside the batch.
    const flag = new SharedArrayBuffer(4);
    let deltas = 0;
    let joined: Promise<{ text: string }>[] = [];
    let first = '';
    await e.generate({
      messages: [{ role: 'user', content: PROMPTS[0] }], sampling: { ...greedy, maxTokens: 50 }, cancel: new SharedArrayBuffer(4),
      emit: (ev) => {
        if (ev.type !== 'delta') return;
        first += ev.text;
        if (++deltas === 8) joined = [run(e, PROMPTS[1], 17), run(e, PROMPTS[2], 35), run(e, PROMPTS[4], 30, flag)];
        if (deltas === 14) Atomics.store(new Int32Array(flag), 0, 1);
      },
    });
    const [b, c, cancelled] = await Promise.all(joined);
    t.equal(first, alone[0], 'the running sequence is undisturbed');
    t.equal(b.text, alone[1], 'a sequence that joined and left early');
    t.equal(c.text, alone[2], 'a sequence that joined mid-flight');
    t.match(cancelled, { error: 'cancelled' }, 'the cancelled one ends with cancelled');
  });
}

t.test('the builder graph in float gives the plain export\'s text: the widened heads keep the maths', async (t) => {
  const [plain, gqa] = await Promise.all([make(dirs.plain), make(dirs['gqa-float'])]);
  t.teardown(() => Promise.all([plain.release(), gqa.release()]));
  for (const p of PROMPTS) t.equal((await run(gqa, p, 60)).text, (await run(plain, p, 60)).text, p);
});

t.test('MatMulNBits with accuracy level 0 gives the tokens of the float graph of its dequantized weights', async (t) => {
  for (const kind of ['int4-b32-acc0', 'int4-b128-acc0-zp']) {
    const [q, ref] = await Promise.all([make(dirs[kind]), make(writeDequantizedReference(root, kind))]);
    for (const p of PROMPTS) t.equal((await run(q, p, 60)).text, (await run(ref, p, 60)).text, `${kind}: ${p}`);
    await Promise.all([q.release(), ref.release()]);
  }
});

t.test('a chunked prefill of a long prompt matches one piece on a GroupQueryAttention graph', async (t) => {
  const [whole, chunked] = await Promise.all([make(dirs['int4-b32-acc0']), make(dirs['int4-b32-acc0'], 7)]);
  t.teardown(() => Promise.all([whole.release(), chunked.release()]));
  const prompt = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends and her dog';
  t.equal((await run(chunked, prompt)).text, (await run(whole, prompt)).text);
});

t.test('a missing external data file fails the load, naming the file', async (t) => {
  const dir = join(root, 'no-data');
  const { writeGenaiModel } = await import('../../../workers/optimize/write-genai.js');
  const { STORIES } = await import('../../helpers/service.js');
  writeGenaiModel(STORIES, dir, { int4: null, ioType: 'float32', externalData: true, manifest: { id: 'no-data' } });
  unlinkSync(join(dir, 'onnx', 'model.onnx.data'));
  await t.rejects(make(dir), { code: 'model_load_failed', message: /model\.onnx\.data, which is missing/ });
});
