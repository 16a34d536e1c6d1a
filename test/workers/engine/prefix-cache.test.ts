import t from 'tap';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChatMessage, SamplingParams } from '../../../protocol/chat.js';
import { Engine } from '../../../workers/engine/engine.js';
import { writeBuilderModels } from '../../helpers/builder-models.js';
import { STORIES, startTestService, tempHome } from '../../helpers/service.js';

const greedy: SamplingParams = { temperature: 0, topP: 1, topK: 0, presencePenalty: 0, frequencyPenalty: 0, maxTokens: 40, stop: [], ignoreEos: false };
const make = (dir: string, prefixCacheBytes?: number) =>
  Engine.create({ modelDir: dir, executionProvider: 'cpu', intraOpThreads: 1, maxBatch: 8, prefillChunk: 128, ...(prefixCacheBytes !== undefined ? { prefixCacheBytes } : {}) });

async function say(e: Engine, messages: ChatMessage[], maxTokens = 40) {
  let text = '';
  let cached = 0;
  await e.generate({
    messages, sampling: { ...greedy, maxTokens }, cancel: new SharedArrayBuffer(4),
    emit: (ev) => { if (ev.type === 'delta') text += ev.text; if (ev.type === 'start') cached = ev.cachedTokens ?? 0; },
  });
  return { text, cached };
}

/** A few two-turn conversations: the second turn resends the first with the answer. */
async function conversations(e: Engine, together: boolean) {
  // Each opening is longer than the cache's 8-token minimum, so its second turn can reuse it.
  const openings = ['Once upon a time, in a small town,', 'The cat sat on the mat and', 'Tom and Sue went to the big park with', 'Lily had a red ball. One day'];
  const first: { text: string; cached: number }[] = [];
  for (const o of openings) first.push(await say(e, [{ role: 'user', content: o }]));
  const second = (i: number): ChatMessage[] => [
    { role: 'user', content: openings[i] }, { role: 'assistant', content: first[i].text }, { role: 'user', content: 'Then they went home.' },
  ];
  const turns = together ? await Promise.all(openings.map((_, i) => say(e, second(i))))
    : await (async () => { const out = []; for (let i = 0; i < openings.length; i++) out.push(await say(e, second(i))); return out; })();
  return { first: first.map((f) => f.text), second: turns.map((s) => s.text), cached: turns.map((s) => s.cached) };
}

const root = tempHome('cru-prefix-');
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const dirs = { plain: STORIES, ...(await writeBuilderModels(root, ['int4-b32-acc0', 'fp16'])) };

for (const [kind, dir] of Object.entries(dirs)) {
  t.test(`${kind}: greedy text is the same with and without prefix reuse, alone and batched`, async (t) => {
    const [off, on] = await Promise.all([make(dir, 0), make(dir)]);
    t.teardown(() => Promise.all([off.release(), on.release()]));
    const reference = await conversations(off, false);
    t.ok(reference.cached.every((c) => c === 0), 'nothing is reused when the cache is off');
    for (const together of [false, true]) {
      const got = await conversations(on, together);
      t.same(got.first, reference.first);
      t.same(got.second, reference.second, together ? 'second turns decoded together' : 'second turns one by one');
      t.ok(got.cached.every((c) => c >= 5), `each second turn reused its first (${got.cached.join(', ')} tokens)`);
    }
  });
}

t.test('the memory budget holds and eviction changes nothing but the reuse', async (t) => {
  // About two sequences' worth of stories260k's cache: 5 layers x 2 x 4 heads x 8 x 4 bytes a token.
  const budget = 2 * 100 * 5 * 2 * 4 * 8 * 4;
  const [off, tight] = await Promise.all([make(STORIES, 0), make(STORIES, budget)]);
  t.teardown(() => Promise.all([off.release(), tight.release()]));
  const reference = await conversations(off, false);
  const got = await conversations(tight, false);
  t.same(got.second, reference.second);
  t.ok(tight.prefix!.bytes <= budget, `${tight.prefix!.bytes} bytes kept of a ${budget}-byte budget`);
  t.ok(tight.prefix!.size <= 2, 'older entries were evicted');
});

t.test('the agent reports reused prompt tokens as usage.prompt_tokens_details.cached_tokens', async (t) => {
  const svc = await startTestService(t);
  const chat = async (messages: ChatMessage[]) => (await (await fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'stories260k', temperature: 0, max_tokens: 30, messages }),
  })).json()) as any;
  const opening = 'Once upon a time, in a small town, there lived';
  const one = await chat([{ role: 'user', content: opening }]);
  t.notOk(one.usage.prompt_tokens_details, 'a first turn reuses nothing');
  const two = await chat([{ role: 'user', content: opening }, { role: 'assistant', content: one.choices[0].message.content }, { role: 'user', content: 'The end.' }]);
  t.ok(two.usage.prompt_tokens_details.cached_tokens > 5, `second turn: ${two.usage.prompt_tokens_details.cached_tokens} of ${two.usage.prompt_tokens} prompt tokens cached`);
});

t.test('a cached prefix is never reused by another model, nor after the model file changes', async (t) => {
  const svc = await startTestService(t);
  const copy = join(svc.config.modelsDir, 'tales-copy');
  cpSync(STORIES, copy, { recursive: true });
  writeFileSync(join(copy, 'crucible.json'), JSON.stringify({ id: 'tales-copy:1', alias: 'tales-copy' }));
  const chat = async (model: string, messages: ChatMessage[]) => (await (await fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, temperature: 0, max_tokens: 30, messages }),
  })).json()) as any;
  const opening = 'Once upon a time, in a small town, there lived';
  const one = await chat('stories260k', [{ role: 'user', content: opening }]);
  const next: ChatMessage[] = [{ role: 'user', content: opening }, { role: 'assistant', content: one.choices[0].message.content }, { role: 'user', content: 'The end.' }];
  const elsewhere = await chat('tales-copy', next);
  t.notOk(elsewhere.usage.prompt_tokens_details, 'the same weights under another model id reuse nothing of the first model');
  const here = await chat('stories260k', next);
  t.ok(here.usage.prompt_tokens_details.cached_tokens > 5, 'the model that ran the first turn reuses it');
  t.equal(elsewhere.choices[0].message.content, here.choices[0].message.content, 'and both answer the same');

  // The copy's conversation is cached in its worker; then its file changes (other weights: the
  // builder's int4 form) and it is loaded again.
  const first = await chat('tales-copy', [{ role: 'user', content: opening }]);
  const again: ChatMessage[] = [{ role: 'user', content: opening }, { role: 'assistant', content: first.choices[0].message.content }, { role: 'user', content: 'The end.' }];
  await fetch(`${svc.url}/openai/unload/tales-copy`);
  const int4 = (await writeBuilderModels(join(svc.home, 'builder'), ['int4-b32-acc0']))['int4-b32-acc0'];
  rmSync(copy, { recursive: true, force: true });
  cpSync(int4, copy, { recursive: true });
  writeFileSync(join(copy, 'crucible.json'), JSON.stringify({ id: 'tales-copy:1', alias: 'tales-copy' }));
  const changed = await chat('tales-copy', again);
  t.equal(changed.error, undefined, 'the changed model answers');
  t.notOk(changed.usage.prompt_tokens_details, 'the changed model file reuses nothing cached before the change');
});
