import t from 'tap';
import { existsSync, rmSync } from 'node:fs';
import type { SamplingParams } from '../../../protocol/chat.js';
import { Engine } from '../../../workers/engine/engine.js';
import { optimizeModel } from '../../../workers/optimize/optimize-model.js';
import { writeBuilderModels } from '../../helpers/builder-models.js';
import { STORIES, startTestService, tempHome } from '../../helpers/service.js';

// ONNX Runtime's WebGPU provider runs on Vulkan; chromium's SwiftShader is a Vulkan on the CPU, so
// these tests run on any machine (slowly). Set for this test process only, before any session.
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
process.env.VK_ICD_FILENAMES ??= SWIFTSHADER;

const greedy: SamplingParams = { temperature: 0, topP: 1, topK: 0, presencePenalty: 0, frequencyPenalty: 0, maxTokens: 12, stop: [], ignoreEos: false };
const make = (dir: string, ep: string) => Engine.create({ modelDir: dir, executionProvider: ep, intraOpThreads: 1, maxBatch: 8, prefillChunk: 64 });
async function run(e: Engine, content: string, maxTokens = 12, cancel = new SharedArrayBuffer(4), onDelta?: (n: number) => void) {
  let text = '';
  let deltas = 0;
  let error = '';
  await e.generate({
    messages: [{ role: 'user', content }], sampling: { ...greedy, maxTokens }, cancel,
    emit: (ev) => { if (ev.type === 'delta') { text += ev.text; onDelta?.(++deltas); } if (ev.type === 'error') error = ev.error.code; },
  });
  return { text, error };
}

// SwiftShader takes ~0.1 s a step: more than the suite's default two minutes for this file.
t.setTimeout(300_000);
const usable = existsSync(SWIFTSHADER) || process.env.VK_ICD_FILENAMES !== SWIFTSHADER;
const root = tempHome('cru-webgpu-');
t.teardown(() => rmSync(root, { recursive: true, force: true }));

t.test('WebGPU gives the CPU\'s greedy text, alone and in a batch with a cancel, on plain and builder-style graphs', { skip: !usable && 'no Vulkan (SwiftShader) here' }, async (t) => {
  const dirs = { plain: STORIES, ...(await writeBuilderModels(root, ['int4-b32-acc0'])) };
  delete (dirs as Record<string, string>).fused;
  const prompts = ['Once upon a time', 'The cat', 'Tom and Sue went to the big park'];
  for (const [kind, dir] of Object.entries(dirs)) {
    const [cpu, gpu] = [await make(dir, 'cpu'), await make(dir, 'webgpu')];
    t.equal(gpu.facts.executionProvider, 'webgpu');
    t.equal(gpu.facts.fused, false, `${kind}: not the CPU's fused form`);
    t.equal(gpu.facts.kvCache, 'device', `${kind}: caches on the device`);
    const expected = [];
    for (const p of prompts) expected.push((await run(cpu, p)).text);
    const alone = [];
    for (const p of prompts) alone.push((await run(gpu, p)).text);
    t.same(alone, expected, `${kind}: alone`);
    const flag = new SharedArrayBuffer(4);
    const together = await Promise.all([
      ...prompts.map((p) => run(gpu, p)),
      run(gpu, 'Lily had a red ball', 40, flag, (n) => { if (n === 3) Atomics.store(new Int32Array(flag), 0, 1); }),
    ]);
    t.same(together.slice(0, 3).map((r) => r.text), expected, `${kind}: streams of different lengths together`);
    t.equal(together[3].error, 'cancelled', `${kind}: the cancelled one stopped`);
    await Promise.all([cpu.release(), gpu.release()]);
  }
});

t.test('a graph the provider cannot run fails its load, naming the operator', { skip: !usable && 'no Vulkan here' }, async (t) => {
  // The CPU's fused form uses MultiHeadAttention with a key padding mask, which WebGPU lacks.
  const fused = (await optimizeModel(STORIES, `${root}/fused-only`, { id: 'fused' })).dir;
  await t.rejects(make(fused, 'webgpu'), { code: 'model_load_failed', message: /cannot run on webgpu: .*MultiHeadAttention/ });
});

t.test('a CPU model and a WebGPU model answer at the same time', { skip: !usable && 'no Vulkan here' }, async (t) => {
  const svc = await startTestService(t);
  const load = await fetch(`${svc.url}/openai/load/stories260k?ep=webgpu`);
  t.equal(load.status, 200, await load.clone().text());
  const { writeGenaiModel } = await import('../../../workers/optimize/write-genai.js');
  writeGenaiModel(STORIES, `${svc.config.modelsDir}/tales-cpu`, { int4: null, ioType: 'float32', manifest: { id: 'tales-cpu:1' } });
  const ask = async (model: string) => ((await (await fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, temperature: 0, max_tokens: 12, messages: [{ role: 'user', content: 'Once upon a time' }] }),
  })).json()) as any).choices[0].message.content;
  const [gpu, cpu] = await Promise.all([ask('stories260k'), ask('tales-cpu')]);
  t.equal(gpu, cpu, 'the same weights give the same text on both providers');
  const ps = (await (await fetch(`${svc.url}/openai/ps`)).json()) as any[];
  t.match(ps.find((m) => m.id === 'stories260k-generic-cpu:1'), { state: 'loaded', executionProvider: 'webgpu', kvCache: 'device' });
  t.match(ps.find((m) => m.id === 'tales-cpu:1'), { state: 'loaded', executionProvider: 'cpu', kvCache: 'host' });
  const metrics = await (await fetch(`${svc.url}/metrics`)).text();
  t.match(metrics, /crucible_model_execution_provider\{model="stories260k-generic-cpu:1",execution_provider="webgpu",kv_cache="device"\} 1/);
  t.match(metrics, /crucible_model_execution_provider\{model="tales-cpu:1",execution_provider="cpu",kv_cache="host"\} 1/);
});
