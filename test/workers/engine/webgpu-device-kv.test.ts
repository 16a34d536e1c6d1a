import t from 'tap';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { SamplingParams } from '../../../protocol/chat.js';
import { Engine } from '../../../workers/engine/engine.js';
import { writeBuilderModels } from '../../helpers/builder-models.js';
import { STORIES, tempHome } from '../../helpers/service.js';

// WebGPU on chromium's SwiftShader (a Vulkan on the CPU), for this test process only.
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
process.env.VK_ICD_FILENAMES ??= SWIFTSHADER;
const usable = existsSync(SWIFTSHADER) || process.env.VK_ICD_FILENAMES !== SWIFTSHADER;

const greedy: SamplingParams = { temperature: 0, topP: 1, topK: 0, presencePenalty: 0, frequencyPenalty: 0, maxTokens: 12, stop: [], ignoreEos: true };
const make = (ep: string, deviceKv?: boolean, prefillChunk = 64, modelDir = STORIES) => Engine.create({ modelDir, executionProvider: ep, intraOpThreads: 1, maxBatch: 8, prefillChunk, deviceKv });

interface Stream { text: string; error: string; deltas: number; cached: number; done: Promise<void> }
function start(e: Engine, content: string, maxTokens: number, opts: { cancel?: SharedArrayBuffer; onDelta?: (n: number) => void } = {}): Stream {
  const s: Stream = { text: '', error: '', deltas: 0, cached: 0, done: Promise.resolve() };
  s.done = e.generate({
    messages: [{ role: 'user', content }], sampling: { ...greedy, maxTokens }, cancel: opts.cancel ?? new SharedArrayBuffer(4),
    emit: (ev) => {
      if (ev.type === 'start') s.cached = ev.cachedTokens ?? 0;
      if (ev.type === 'delta') { s.text += ev.text; opts.onDelta?.(++s.deltas); }
      if (ev.type === 'error') s.error = ev.error.code;
    },
  });
  return s;
}

t.setTimeout(300_000);

const root = tempHome('cru-devkv-');
t.teardown(() => rmSync(root, { recursive: true, force: true }));

// The plain export (left-padded, masked attention) and the model builder's int4 form
// (GroupQueryAttention, right-padded rows): joins pad and trims cut on opposite sides.
for (const kind of ['plain', 'int4-b32-acc0']) t.test(`caches on the device (${kind}): 4 streams joining and leaving at different times, and a cancel, give the CPU's text`, { skip: !usable && 'no Vulkan (SwiftShader) here' }, async (t) => {
  const dir = kind === 'plain' ? STORIES : (await writeBuilderModels(join(root, kind), [kind]))[kind];
  const asks: [string, number][] = [['Once upon a time', 6], ['The cat', 10], ['Tom and Sue went to the big park', 4], ['Lily had a red ball', 8]];
  const cpu = await make('cpu', undefined, 64, dir);
  const expected: string[] = [];
  for (const [p, n] of asks) { const s = start(cpu, p, n); await s.done; expected.push(s.text); }
  await cpu.release();

  const gpu = await make('webgpu', undefined, 64, dir);
  t.equal(gpu.facts.kvCache, 'device', 'the load says the caches stay on the device');
  t.equal(gpu.facts.attention, kind === 'plain' ? 'masked' : 'gqa');
  const before = gpu.kvStats()!;
  // A joins first with a stream that is cancelled after 3 tokens; B joins once A has 2 tokens, C
  // once A has 4, D once B has 2: every join lands in a running batch, and each leaves on its own.
  const flag = new SharedArrayBuffer(4);
  const streams: Stream[] = [];
  const joined = new Promise<void>((resolve) => {
    const join = (i: number) => { streams[i] = start(gpu, asks[i][0], asks[i][1], i === 1 ? { onDelta: (n) => { if (n === 2) { join(3); resolve(); } } } : {}); };
    streams[0] = start(gpu, asks[0][0], asks[0][1], { onDelta: (n) => { if (n === 2) join(1); if (n === 4) join(2); } });
  });
  const cancelled = start(gpu, 'A dog ran', 40, { cancel: flag, onDelta: (n) => { if (n === 3) Atomics.store(new Int32Array(flag), 0, 1); } });
  await joined;
  await Promise.all([...streams.map((s) => s.done), cancelled.done]);
  t.same(streams.map((s) => s.text), expected, 'each stream\'s greedy text equals the CPU\'s');
  t.equal(cancelled.error, 'cancelled');
  await gpu.idle();
  const stats = gpu.kvStats()!;
  const steps = stats.deviceSteps - before.deviceSteps;
  const downloads = stats.downloads - before.downloads;
  t.ok(steps > 0, `decode steps ran with device caches in and out (${steps})`);
  // Joins and leaves are rearranged on the device; only the 4 finished rows kept for prefix reuse
  // come back to the host (the cancelled one is not kept).
  t.ok(stats.deviceRearranges - before.deviceRearranges >= 4, `joins and leaves done on the device (${stats.deviceRearranges - before.deviceRearranges})`);
  t.ok(downloads <= 4, `only finished rows downloaded (${downloads} for ${steps} device steps)`);
  t.equal(stats.liveTensors, 0, 'no device tensor is held once the batch is empty');
  await gpu.release();
});

t.test('device tensors are released: 120 short requests leave none behind and never pile up', { skip: !usable && 'no Vulkan (SwiftShader) here' }, async (t) => {
  const gpu = await make('webgpu');
  const layers = gpu.spec.numLayers;
  const prompts = ['Once upon a time', 'The cat', 'Tom and Sue went', 'Lily had a red ball', 'A dog', 'The sun', 'Ben', 'One day'];
  const errors: string[] = [];
  // Waves of 12 against a batch of 8: requests join, wait and leave all the time.
  for (let wave = 0; wave < 10; wave++) {
    const streams = Array.from({ length: 12 }, (_, i) => start(gpu, `${prompts[i % prompts.length]} ${wave}`, 1 + ((i + wave) % 3)));
    await Promise.all(streams.map((s) => s.done));
    errors.push(...streams.map((s) => s.error).filter(Boolean));
  }
  t.same(errors, []);
  await gpu.idle();
  const stats = gpu.kvStats()!;
  t.equal(stats.liveTensors, 0, 'every device tensor was disposed');
  // At most the batch's cache, a block joining it and their join (or a prefill chunk's old and new
  // cache beside the batch): three caches of 2 tensors a layer.
  t.ok(stats.peakTensors <= 3 * 2 * layers, `at most three caches on the device at once (peak ${stats.peakTensors} tensors)`);
  await gpu.release();
});

t.test('deviceKv: false keeps the caches in host memory and gives the same text', { skip: !usable && 'no Vulkan (SwiftShader) here' }, async (t) => {
  const [host, device] = [await make('webgpu', false), await make('webgpu')];
  t.equal(host.facts.kvCache, 'host');
  t.equal(host.kvStats(), null);
  const before = device.kvStats()!;
  const a = start(host, 'Once upon a time', 8);
  const b = start(device, 'Once upon a time', 8);
  await Promise.all([a.done, b.done, device.idle()]);
  t.equal(a.text, b.text);
  t.ok(a.text.length > 0);
  // One stream alone: the prefill's token, then 7 steps all on the device; the one download is its
  // cache kept for prefix reuse as it leaves.
  const after = device.kvStats()!;
  t.equal(after.deviceSteps - before.deviceSteps, 7, 'every decode step stayed on the device');
  t.ok(after.downloads - before.downloads <= 1, 'no download while the batch is unchanged');
  await Promise.all([host.release(), device.release()]);
});

t.test('caches on the device through chunked prefill and prefix reuse give the CPU\'s text', { skip: !usable && 'no Vulkan (SwiftShader) here' }, async (t) => {
  // Prompts prefilled 4 tokens at a time, each chunk's cache fed back on the device; the second
  // request starts with the first one's whole conversation, so it reuses that cache.
  const first = 'Once upon a time there was a little girl named Lily who loved';
  const flow = async (e: Engine) => {
    const a = start(e, first, 6);
    // Once the engine has stored a's cache (on the device path that waits for its download).
    await a.done;
    await e.idle();
    const b = start(e, `${first} flowers and the sun`, 6);
    await b.done;
    await e.idle();
    return [a, b];
  };
  const cpu = await make('cpu', undefined, 4);
  const expected = await flow(cpu);
  await cpu.release();
  const gpu = await make('webgpu', true, 4);
  const got = await flow(gpu);
  t.same(got.map((s) => s.text), expected.map((s) => s.text), 'the same text on both providers');
  t.ok(got[1].cached > 0, `the second request reused ${got[1].cached} cached prompt tokens`);
  t.equal(got[1].cached, expected[1].cached, 'as many as on the CPU');
  t.equal(gpu.kvStats()!.liveTensors, 0);
  await gpu.release();
});
