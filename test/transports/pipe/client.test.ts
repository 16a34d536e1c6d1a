import t from 'tap';
import { statSync } from 'node:fs';
import { PipeClient } from '../../../clients/typescript/pipe-client.js';
import { connect } from '../../../clients/typescript/connect.js';
import type { ChatCompletionChunk } from '../../../protocol/chat.js';
import { PROTOCOL_VERSION } from '../../../protocol/version.js';
import { GREEDY, linkEndless, slowStream, startTestService, storyRequest } from '../../helpers/service.js';

const textOf = async (stream: AsyncIterable<ChatCompletionChunk>) => {
  let text = '';
  let chunks = 0;
  for await (const c of stream) { text += c.choices[0]?.delta.content ?? ''; chunks++; }
  return { text, chunks };
};

t.test('the TypeScript client drives a real agent over the pipe', async (t) => {
  const svc = await startTestService(t);
  t.equal(statSync(svc.pipeName).mode & 0o777, 0o600, 'socket permissions are 0600');
  const client = await connect({ home: svc.home });
  t.ok(client instanceof PipeClient, 'connect() prefers the pipe');
  t.teardown(() => (client as PipeClient).close());
  const status = await client.status();
  t.equal(status.protocolVersion, PROTOCOL_VERSION);
  t.equal(status.PipeName, svc.pipeName);
  t.same(await client.load('stories260k', { ttl: 60 }), { model: 'stories260k-generic-cpu:1' });
  t.same(await client.loadedModels(), ['stories260k-generic-cpu:1']);
  const { text, chunks } = await textOf(client.chatStream(storyRequest({ max_tokens: 200 })));
  t.ok(text.trimStart().startsWith(GREEDY.trimStart()), JSON.stringify(text.slice(0, 100)));
  t.ok(chunks > 20);
  const full = await client.chat(storyRequest({ max_tokens: 200 }));
  t.equal(full.choices[0].message.content, text, 'streamed and whole completions agree');
  t.same(await client.countTokens({ model: 'stories260k', messages: [{ role: 'user', content: 'Once upon a time' }] }),
    { model: 'stories260k-generic-cpu:1', tokenCount: 5 });
  await t.rejects(client.load('missing-model'), { code: 'model_not_found' });
});

t.test('eight concurrent streams on one connection come back complete and unmixed', async (t) => {
  const svc = await startTestService(t);
  const client = await PipeClient.connect(svc.pipeName);
  t.teardown(() => client.close());
  const prompts = ['Once upon a time', 'The cat', 'One day', 'Tom and Sue', 'The sun was', 'A little bird', 'Mom said', 'The dog ran'];
  const expected: string[] = [];
  for (const p of prompts) expected.push((await client.chat(storyRequest({ messages: [{ role: 'user', content: p }], max_tokens: 50 }))).choices[0].message.content ?? "");
  const got = await Promise.all(prompts.map((p) => textOf(client.chatStream(storyRequest({ messages: [{ role: 'user', content: p }], max_tokens: 50 })))));
  t.same(got.map((g) => g.text), expected);
  t.equal(new Set(expected).size, prompts.length, 'the prompts give distinct stories');
});

t.test('cancel stops a generation mid-stream and the connection keeps serving', async (t) => {
  const svc = await startTestService(t);
  linkEndless(svc.config.modelsDir);
  const client = await PipeClient.connect(svc.pipeName);
  t.teardown(() => client.close());
  const ac = new AbortController();
  let chunks = 0;
  const consume = async () => {
    for await (const _ of client.chatStream(slowStream() as any, ac.signal)) {
      if (++chunks === 5) ac.abort();
    }
  };
  await t.rejects(consume(), { code: 'cancelled' });
  t.ok(chunks < 100, `stopped early (${chunks} chunks)`);
  const after = await client.chat(storyRequest());
  t.equal(after.choices[0].finish_reason, 'length', 'the same connection serves the next request');
  const info = await client.modelInfo();
  t.equal(info.find((m) => m.id === 'endless')?.inFlight, 0);
});

t.test('text completions, n choices and model lookup over the pipe', async (t) => {
  const svc = await startTestService(t);
  const client = await PipeClient.connect(svc.pipeName);
  t.teardown(() => client.close());
  t.same(await client.getModel('stories260k'), { id: 'stories260k-generic-cpu:1', object: 'model', created: 0, owned_by: 'crucible' });
  await t.rejects(client.getModel('ghost:1'), { code: 'model_not_found' });

  const whole = await client.completions({ model: 'stories260k', prompt: 'Once upon a time', temperature: 0, max_tokens: 40 });
  t.equal(whole.object, 'text_completion');
  t.ok(GREEDY.startsWith(whole.choices[0].text), JSON.stringify(whole.choices[0].text));
  t.same(whole.usage, { prompt_tokens: 5, completion_tokens: 40, total_tokens: 45 });

  const texts = ['', '', ''];
  let usage;
  for await (const c of client.completionsStream({
    model: 'stories260k', prompt: 'Once upon a time', temperature: 0, max_tokens: 40, n: 3, stream_options: { include_usage: true },
  })) {
    for (const ch of c.choices) texts[ch.index] += ch.text;
    usage = c.usage ?? usage;
  }
  t.same(texts, [whole.choices[0].text, whole.choices[0].text, whole.choices[0].text], 'three greedy choices, each under its index');
  t.same(usage, { prompt_tokens: 5, completion_tokens: 120, total_tokens: 125 });
});

t.test('cancelling a request of n choices stops every sequence', async (t) => {
  const svc = await startTestService(t);
  linkEndless(svc.config.modelsDir);
  const client = await PipeClient.connect(svc.pipeName);
  t.teardown(() => client.close());
  const ac = new AbortController();
  const seen = new Set<number>();
  const consume = async () => {
    for await (const c of client.chatStream(slowStream({ n: 3, temperature: 1, seed: 1 }) as any, ac.signal)) {
      for (const ch of (c as ChatCompletionChunk).choices) if (ch.delta.content) seen.add(ch.index);
      if (seen.size === 3) ac.abort();
    }
  };
  await t.rejects(consume(), { code: 'cancelled' });
  t.same([...seen].sort(), [0, 1, 2], 'all three choices were generating');
  const info = await client.modelInfo();
  t.equal(info.find((m) => m.id === 'endless')?.inFlight, 0, 'the lease is released once every sequence has stopped');
  const after = await client.chat(storyRequest({ model: 'endless', n: 2 }));
  t.equal(after.choices.length, 2, 'the model serves the next request');
});
