import t from 'tap';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { SamplingParams } from '../../../protocol/chat.js';
import type { WorkerEvent } from '../../../protocol/worker-messages.js';
import { Engine } from '../../../workers/engine/engine.js';
import { GREEDY, STORIES, tempHome } from '../../helpers/service.js';

const greedy: SamplingParams = { temperature: 0, topP: 1, topK: 0, presencePenalty: 0, frequencyPenalty: 0, maxTokens: 60, stop: [], ignoreEos: false };

async function make(dir = STORIES, layout?: 'hf' | 'genai') {
  return Engine.create({ modelDir: dir, executionProvider: 'cpu', intraOpThreads: 1, maxBatch: 8, prefillChunk: 128 }, layout);
}

async function run(e: Engine, content: string, sampling: Partial<SamplingParams> = {}, cancel = new SharedArrayBuffer(4)) {
  const events: WorkerEvent[] = [];
  await e.generate({ messages: [{ role: 'user', content }], sampling: { ...greedy, ...sampling }, cancel, emit: (ev) => events.push(ev) });
  const text = events.map((ev) => (ev.type === 'delta' ? ev.text : '')).join('');
  return { text, events, done: events.at(-1)! };
}

t.test('greedy decoding reproduces the reference continuation', async (t) => {
  const e = await make();
  t.teardown(() => e.release());
  const r = await run(e, 'Once upon a time', { maxTokens: 200 });
  t.ok(r.text.trimStart().startsWith(GREEDY.trimStart()), `got ${JSON.stringify(r.text.slice(0, 160))}`);
  t.equal(r.done.type, 'done');
  t.match(r.events[0], { type: 'start', promptTokens: 5 });
  t.equal(e.countTokens([{ role: 'user', content: 'Once upon a time' }]), 5);
});

t.test('the same seed gives the same sampled text, another seed another', async (t) => {
  const e = await make();
  t.teardown(() => e.release());
  const a = await run(e, 'Once upon a time', { temperature: 1, seed: 42 });
  const b = await run(e, 'Once upon a time', { temperature: 1, seed: 42 });
  const c = await run(e, 'Once upon a time', { temperature: 1, seed: 7 });
  t.equal(a.text, b.text);
  t.not(a.text, c.text);
  t.not(a.text, (await run(e, 'Once upon a time')).text, 'sampling differs from greedy');
  // top_k 1 and a tiny top_p both collapse to the greedy choice.
  t.equal((await run(e, 'Once upon a time', { temperature: 1, topK: 1, seed: 3 })).text, (await run(e, 'Once upon a time')).text);
  t.equal((await run(e, 'Once upon a time', { temperature: 0.8, topP: 1e-9, seed: 3 })).text, (await run(e, 'Once upon a time')).text);
});

t.test('max_tokens ends with length; stop strings end with stop and are not emitted', async (t) => {
  const e = await make();
  t.teardown(() => e.release());
  const short = await run(e, 'Once upon a time', { maxTokens: 3 });
  t.match(short.done, { type: 'done', finishReason: 'length', completionTokens: 3 });
  const stopped = await run(e, 'Once upon a time', { stop: ['Lily'] });
  t.match(stopped.done, { type: 'done', finishReason: 'stop' });
  t.equal(stopped.text, ', there was a little girl named ');
  // A stop string that spans several tokens.
  const multi = await run(e, 'Once upon a time', { stop: ['the park'] });
  t.equal(multi.text, ', there was a little girl named Lily. She loved to play outside in ');
});

t.test('a prompt that cannot fit the context is refused, naming the limit', async (t) => {
  const e = await make();
  t.teardown(() => e.release());
  await t.rejects(run(e, 'Once upon a time', { maxTokens: 600 }), { code: 'context_length_exceeded', message: /512/ });
  await t.rejects(run(e, 'the '.repeat(600)), { code: 'context_length_exceeded', param: 'messages' });
});

t.test('streamed text never splits a UTF-8 character from byte-fallback tokens', async (t) => {
  const e = await make();
  t.teardown(() => e.release());
  const ids = [270, 485, 306, 414, 410, 229, 155, 134, 410, 233, 154, 168, 233, 159, 175];
  const dec = e.codec.streamDecoder([1]);
  const pieces = ids.map((id) => dec.push(id));
  pieces.push(dec.flush());
  t.equal(pieces.join(''), 'héllo ☃ 日本');
  t.notOk(pieces.some((p) => p.includes('\uFFFD')), 'no replacement characters');
  t.same(pieces.slice(5, 9), ['', '', '☃', ' '], 'the snowman waits for its third byte');
});

t.test('both model layouts load and give identical greedy output', async (t) => {
  const root = tempHome();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const hf = join(root, 'hf');
  const genai = join(root, 'genai');
  for (const dir of [hf, genai]) mkdirSync(join(dir, 'onnx'), { recursive: true });
  for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) cpSync(join(STORIES, f), join(hf, f));
  for (const f of ['genai_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) cpSync(join(STORIES, f), join(genai, f));
  const a = await make(hf);
  const b = await make(genai);
  t.teardown(() => Promise.all([a.release(), b.release()]));
  t.equal(a.facts.layout, 'hf');
  t.equal(b.facts.layout, 'genai');
  const ta = await run(a, 'Once upon a time');
  t.equal(ta.text, (await run(b, 'Once upon a time')).text);
  t.ok(ta.text.startsWith(GREEDY.slice(0, 40)));
});

t.test('concurrent sequences decode in one batch with the same greedy output as alone', async (t) => {
  const e = await make();
  t.teardown(() => e.release());
  const prompts = ['Once upon a time', 'The cat', 'Lily and Tom went to the', 'One day', 'Ben had a big red'];
  const lengths = [60, 17, 35, 48, 5];
  const alone = [];
  for (const [i, p] of prompts.entries()) alone.push((await run(e, p, { maxTokens: lengths[i] })).text);
  const together = await Promise.all(prompts.map((p, i) => run(e, p, { maxTokens: lengths[i] })));
  t.same(together.map((r) => r.text), alone);
});

t.test('a cancelled sequence stops between steps and leaves the others intact', async (t) => {
  const e = await make();
  t.teardown(() => e.release());
  const expected = (await run(e, 'The cat', { maxTokens: 80 })).text;
  const flag = new SharedArrayBuffer(4);
  let deltas = 0;
  const victim = e.generate({
    messages: [{ role: 'user', content: 'Once upon a time' }], sampling: { ...greedy, maxTokens: 400 }, cancel: flag,
    emit: (ev) => { if (ev.type === 'delta' && ++deltas === 5) Atomics.store(new Int32Array(flag), 0, 1); if (ev.type === 'error') t.equal(ev.error.code, 'cancelled'); },
  });
  const other = run(e, 'The cat', { maxTokens: 80 });
  await victim;
  t.ok(deltas < 20, `stopped soon after the cancel (${deltas} deltas)`);
  t.equal((await other).text, expected);
});

t.test('sequences that join mid-flight and leave early do not disturb each other', async (t) => {
  const e = await make();
  t.teardown(() => e.release());
  const solo = {
    a: (await run(e, 'Once upon a time', { maxTokens: 90 })).text,
    b: (await run(e, 'The cat sat', { maxTokens: 20 })).text,
    c: (await run(e, 'Tom and Sue went to the big', { maxTokens: 50 })).text,
  };
  let aDeltas = 0;
  let started: Promise<unknown>[] = [];
  const events: string[] = [];
  const a = e.generate({
    messages: [{ role: 'user', content: 'Once upon a time' }], sampling: { ...greedy, maxTokens: 90 }, cancel: new SharedArrayBuffer(4),
    emit: (ev) => {
      if (ev.type !== 'delta') return;
      events.push(ev.text);
      // B and C arrive while A is mid-stream; B leaves long before A ends.
      if (++aDeltas === 10) started = [run(e, 'The cat sat', { maxTokens: 20 }), run(e, 'Tom and Sue went to the big', { maxTokens: 50 })];
    },
  });
  await a;
  const [b, c] = (await Promise.all(started)) as { text: string }[];
  t.equal(events.join(''), solo.a);
  t.equal(b.text, solo.b);
  t.equal(c.text, solo.c);
});

t.test('a long prompt prefilled in small chunks gives the same text as in one piece', async (t) => {
  const whole = await make();
  const chunked = await Engine.create({ modelDir: STORIES, executionProvider: 'cpu', intraOpThreads: 1, maxBatch: 8, prefillChunk: 7 });
  t.teardown(() => Promise.all([whole.release(), chunked.release()]));
  const prompt = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends and her dog';
  t.ok(whole.countTokens([{ role: 'user', content: prompt }]) > 20, 'the prompt spans several chunks');
  t.equal((await run(chunked, prompt)).text, (await run(whole, prompt)).text);
});
