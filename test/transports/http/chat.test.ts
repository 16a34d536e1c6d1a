import t from 'tap';
import OpenAI from 'openai';
import { GREEDY, linkEndless, slowStream, startTestService, storyRequest } from '../../helpers/service.js';

const prefix = GREEDY.slice(0, 75); // ", there was a little girl named Lily. She loved to play outside in the park."

t.test('chat completions through the official openai client', async (t) => {
  const svc = await startTestService(t);
  const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused' });

  const full = await client.chat.completions.create({
    model: 'stories260k', messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 40,
  });
  const text = full.choices[0].message.content ?? '';
  t.ok(text.trimStart().startsWith(prefix.trimStart()), `non-streamed: ${JSON.stringify(text)}`);
  t.equal(full.choices[0].finish_reason, 'length');
  t.equal(full.object, 'chat.completion');
  t.equal(full.model, 'stories260k-generic-cpu:1');
  t.same(full.usage, { prompt_tokens: 5, completion_tokens: 40, total_tokens: 45 });

  const stream = await client.chat.completions.create({
    model: 'stories260k-generic-cpu:1', messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 40,
    stream: true, stream_options: { include_usage: true },
  });
  let streamed = '';
  let chunks = 0;
  let finish: string | null = null;
  let usage;
  for await (const chunk of stream) {
    t.equal(chunk.object, 'chat.completion.chunk');
    chunks++;
    streamed += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  t.equal(streamed, text, 'streamed text equals the non-streamed text');
  t.ok(chunks > 10, `arrived in pieces (${chunks} chunks)`);
  t.equal(finish, 'length');
  t.same(usage, { prompt_tokens: 5, completion_tokens: 40, total_tokens: 45 });

  const stopped = await client.chat.completions.create({ ...storyRequest(), stop: ['Lily'] } as any) as OpenAI.ChatCompletion;
  t.equal(stopped.choices[0].message.content, ', there was a little girl named ');
  t.equal(stopped.choices[0].finish_reason, 'stop');

  const models = await client.models.list();
  t.ok(models.data.some((m) => m.id === 'stories260k-generic-cpu:1'), 'the bundled model is listed');
});

t.test('raw SSE framing ends with [DONE]', async (t) => {
  const svc = await startTestService(t);
  const res = await fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(storyRequest({ stream: true, max_tokens: 5 })),
  });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /text\/event-stream/);
  const body = await res.text();
  const frames = body.split('\n\n').filter(Boolean);
  t.equal(frames.at(-1), 'data: [DONE]');
  t.ok(frames.slice(0, -1).every((f) => f.startsWith('data: {')), 'every other frame is a JSON chunk');
});

t.test('a client that disconnects stops its generation', async (t) => {
  const svc = await startTestService(t);
  linkEndless(svc.config.modelsDir);
  const ac = new AbortController();
  const res = await fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
    body: JSON.stringify(slowStream()),
  });
  const reader = res.body!.getReader();
  await reader.read();
  ac.abort();
  // The lease is released once the worker has stopped the sequence.
  let info = await svc.agent.modelInfo();
  const endless = () => info.find((m) => m.id === 'endless')!;
  for (let i = 0; i < 200 && endless().inFlight > 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
    info = await svc.agent.modelInfo();
  }
  t.equal(endless().inFlight, 0, 'no request left in flight');
  const after = await fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(storyRequest()),
  });
  t.equal(after.status, 200, 'the model keeps serving');
});
