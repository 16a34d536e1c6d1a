import t from 'tap';
import { PipeClient } from '../../../clients/typescript/pipe-client.js';
import { startHeldUpstream } from '../../helpers/held-upstream.js';
import { linkEndless, slowStream, startTestService, storyRequest, until } from '../../helpers/service.js';

const post = (url: string, body: unknown, signal?: AbortSignal) => fetch(`${url}/v1/chat/completions`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal,
});

t.test('a full queue answers 503 with Retry-After; a freed place goes to the queue', async (t) => {
  const svc = await startTestService(t, ['--max-batch', '1', '--max-queue', '1']);
  linkEndless(svc.config.modelsDir);
  const first = await post(svc.url, slowStream());
  const firstReader = first.body!.getReader();
  await firstReader.read();
  const queued = post(svc.url, slowStream({ stream: false, max_tokens: 3 }));
  const endless = async () => ((await (await fetch(`${svc.url}/openai/ps`)).json()) as any[]).find((m) => m.id === 'endless');
  await until(async () => (await endless()).queued === 1);
  t.match(await endless(), { inFlight: 1, queued: 1 });

  const refused = await post(svc.url, slowStream({ stream: false }));
  t.equal(refused.status, 503);
  t.ok(Number(refused.headers.get('retry-after')) >= 1, 'Retry-After is set');
  t.match(await refused.json(), { error: { code: 'overloaded', type: 'server_error' } });

  const pipe = await PipeClient.connect(svc.pipeName);
  t.teardown(() => pipe.close());
  await t.rejects(pipe.chat(slowStream({ stream: false }) as any), { code: 'overloaded' }, 'the pipe refuses the same way');

  // The first client leaves: its place goes to the queued request at once.
  await firstReader.cancel();
  const done = await queued;
  t.equal(done.status, 200);
  t.equal(((await done.json()) as any).usage.completion_tokens, 3);
  const metrics = await (await fetch(`${svc.url}/metrics`)).text();
  t.match(metrics, /crucible_requests_rejected_total\{model="endless"\} 2/);
});

t.test('a request cancelled while queued leaves the queue', async (t) => {
  const svc = await startTestService(t, ['--max-batch', '1', '--max-queue', '1']);
  linkEndless(svc.config.modelsDir);
  const first = await post(svc.url, slowStream());
  const reader = first.body!.getReader();
  await reader.read();
  const ac = new AbortController();
  const waiting = post(svc.url, slowStream({ stream: false }), ac.signal).catch((e) => e);
  const queued = async () => ((await (await fetch(`${svc.url}/openai/ps`)).json()) as any[]).find((m) => m.id === 'endless').queued;
  await until(async () => (await queued()) === 1);
  t.equal(await queued(), 1, 'the second request waits');
  ac.abort();
  await waiting;
  await until(async () => (await queued()) === 0);
  t.equal(await queued(), 0, 'the queue is empty again');
  await reader.cancel();
});

t.test('requests past the server-side timeout end with 504', async (t) => {
  const svc = await startTestService(t, ['--request-timeout', '1']);
  // An upstream that never finishes: the limit alone can end the request.
  const upstream = await startHeldUpstream(t);
  const reg = await fetch(`${svc.url}/openai/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ TypeName: 'openai', ModelName: 'held:1', BaseUri: upstream.url }),
  });
  t.equal(reg.status, 200);
  const started = Date.now();
  const held = await post(svc.url, { model: 'held:1', messages: [{ role: 'user', content: 'x' }] });
  t.equal(held.status, 504);
  t.match(await held.json(), { error: { code: 'timeout', type: 'server_error' } });
  t.ok(Date.now() - started >= 900, 'not before the limit');
  for (let i = 0; i < 100 && upstream.open > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(upstream.open, 0, 'the upstream request was closed');

  // A local generation that would outlast any limit (the endless model) is stopped in its worker.
  linkEndless(svc.config.modelsDir);
  await fetch(`${svc.url}/openai/load/endless`);
  const res = await post(svc.url, slowStream({ stream: false }));
  t.equal(res.status, 504);
  t.match(await res.json(), { error: { code: 'timeout' } });
  const ps = await (await fetch(`${svc.url}/openai/ps`)).json() as any[];
  t.equal(ps.find((m) => m.id === 'endless').inFlight, 0, 'the generation was stopped');
  const streamed = await post(svc.url, slowStream());
  t.equal(streamed.status, 200, 'a stream has started before the limit');
  t.match(await streamed.text(), /"code":"timeout"/, 'and ends with a timeout error event');
});

t.test('request bodies over the limit get 413', async (t) => {
  const svc = await startTestService(t, ['--max-body-bytes', '2000']);
  const res = await post(svc.url, storyRequest({ messages: [{ role: 'user', content: 'a'.repeat(5000) }] }));
  t.equal(res.status, 413);
  t.match(await res.json(), { error: { code: 'payload_too_large' } });
  t.equal((await post(svc.url, storyRequest())).status, 200);
});
