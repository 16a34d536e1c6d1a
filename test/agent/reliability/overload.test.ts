import t from 'tap';
import { PipeClient } from '../../../clients/typescript/pipe-client.js';
import { linkBench15m, slowStream, startTestService, storyRequest } from '../../helpers/service.js';

const post = (url: string, body: unknown, signal?: AbortSignal) => fetch(`${url}/v1/chat/completions`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal,
});

t.test('a full queue answers 503 with Retry-After; a freed place goes to the queue', async (t) => {
  const svc = await startTestService(t, ['--max-batch', '1', '--max-queue', '1']);
  linkBench15m(svc.config.modelsDir);
  const first = await post(svc.url, slowStream());
  const firstReader = first.body!.getReader();
  await firstReader.read();
  const queued = post(svc.url, slowStream({ stream: false, max_tokens: 3 }));
  await new Promise((r) => setTimeout(r, 100));
  const ps = await (await fetch(`${svc.url}/openai/ps`)).json() as any[];
  t.match(ps.find((m) => m.id === 'bench15m'), { inFlight: 1, queued: 1 });

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
  t.match(metrics, /crucible_requests_rejected_total\{model="bench15m"\} 2/);
});

t.test('a request cancelled while queued leaves the queue', async (t) => {
  const svc = await startTestService(t, ['--max-batch', '1', '--max-queue', '1']);
  linkBench15m(svc.config.modelsDir);
  const first = await post(svc.url, slowStream());
  const reader = first.body!.getReader();
  await reader.read();
  const ac = new AbortController();
  const waiting = post(svc.url, slowStream({ stream: false }), ac.signal).catch((e) => e);
  await new Promise((r) => setTimeout(r, 100));
  let ps = await (await fetch(`${svc.url}/openai/ps`)).json() as any[];
  t.equal(ps.find((m) => m.id === 'bench15m').queued, 1, 'the second request waits');
  ac.abort();
  await waiting;
  await new Promise((r) => setTimeout(r, 100));
  ps = await (await fetch(`${svc.url}/openai/ps`)).json() as any[];
  t.equal(ps.find((m) => m.id === 'bench15m').queued, 0, 'the queue is empty again');
  await reader.cancel();
});

t.test('requests past the server-side timeout end with 504', async (t) => {
  const svc = await startTestService(t, ['--request-timeout', '1']);
  // bench15m decodes far slower than one token a millisecond, so 250 tokens outlast a second.
  linkBench15m(svc.config.modelsDir);
  await fetch(`${svc.url}/openai/load/bench15m`);
  const res = await post(svc.url, { model: 'bench15m', messages: [{ role: 'user', content: 'x' }], temperature: 0, max_tokens: 250, ignore_eos: true });
  t.equal(res.status, 504);
  t.match(await res.json(), { error: { code: 'timeout' } });
  const ps = await (await fetch(`${svc.url}/openai/ps`)).json() as any[];
  t.equal(ps.find((m) => m.id === 'bench15m').inFlight, 0, 'the generation was stopped');
});

t.test('request bodies over the limit get 413', async (t) => {
  const svc = await startTestService(t, ['--max-body-bytes', '2000']);
  const res = await post(svc.url, storyRequest({ messages: [{ role: 'user', content: 'a'.repeat(5000) }] }));
  t.equal(res.status, 413);
  t.match(await res.json(), { error: { code: 'payload_too_large' } });
  t.equal((await post(svc.url, storyRequest())).status, 200);
});
