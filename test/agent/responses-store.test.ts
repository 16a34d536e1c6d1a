import t from 'tap';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { loadConfig } from '../../agent/config.js';
import { responsesDbPath } from '../../agent/home.js';
import { ResponseStore } from '../../agent/responses/store.js';
import { startService } from '../../agent/service.js';
import type { ResponseObject } from '../../protocol/responses.js';
import { linkEndless, startTestService, tempHome, until } from '../helpers/service.js';

const failure = (p: PromiseLike<unknown>): Promise<unknown> => Promise.resolve(p).then(() => null, (e: unknown) => e);

/** An endless generation run in the background (it only ends when cancelled). */
const endless = { model: 'endless', input: 'x', background: true, max_output_tokens: 1_000_000, ignore_eos: true, temperature: 0 };

t.test('a background response runs on its own, can be followed from a sequence number, and is cancelled', async (t) => {
  const svc = await startTestService(t);
  linkEndless(svc.config.modelsDir);
  const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused', maxRetries: 0 });

  const r = await client.responses.create(endless as OpenAI.Responses.ResponseCreateParamsNonStreaming);
  t.equal(r.status, 'in_progress', 'the create call returns at once');
  t.equal(r.background, true);
  t.ok(await until(async () => (await client.responses.retrieve(r.id)).output.length > 0), 'it generates while nobody reads it');

  // Follow its events from sequence number 2 on: a reader that leaves cancels nothing.
  const res = await fetch(`${svc.url}/v1/responses/${r.id}?stream=true&starting_after=2`);
  t.equal(res.status, 200);
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes('response.output_text.delta')) text += new TextDecoder().decode((await reader.read()).value);
  const first = JSON.parse(/data: (\{.*\})\n/.exec(text)![1]) as { sequence_number: number };
  t.equal(first.sequence_number, 3, 'the first event followed is the one after starting_after');
  t.match(text, /^event: response\.[a-z_.]+\ndata: \{/, 'each event is named in an event: line, as OpenAI sends them');
  await reader.cancel();
  const later = await client.responses.retrieve(r.id);
  t.equal(later.status, 'in_progress', 'a follower leaving did not stop it');

  t.match(await failure(client.responses.cancel((await client.responses.create({ model: 'stories260k', input: 'x', max_output_tokens: 2 })).id)),
    { status: 400, error: { param: 'id' } }, 'only background responses can be cancelled');

  const cancelled = await client.responses.cancel(r.id);
  t.equal(cancelled.status, 'cancelled');
  t.equal((await client.responses.retrieve(r.id)).status, 'cancelled', 'stored as cancelled');
  t.ok(await until(() => svc.registry.info().every((m) => m.inFlight === 0)), 'the generation stopped');
  t.equal((await client.responses.cancel(r.id)).status, 'cancelled', 'cancelling again returns it as it is');

  // A streamed background response: the client leaving does not cancel it.
  const ac = new AbortController();
  const bg = await fetch(`${svc.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...endless, stream: true }), signal: ac.signal });
  const rd = bg.body!.getReader();
  let head = '';
  while (!head.includes('response.created')) head += new TextDecoder().decode((await rd.read()).value);
  const id = (JSON.parse(/data: (\{.*\})\n/.exec(head)![1]) as { response: ResponseObject }).response.id;
  ac.abort();
  await new Promise((r) => setTimeout(r, 100));
  t.equal((await client.responses.retrieve(id)).status, 'in_progress', 'still running after its streaming caller left');
  await client.responses.delete(id);
  t.match(await failure(client.responses.retrieve(id)), { status: 404 }, 'deleting a running response stops and removes it');
});

t.test('a foreground stream whose client leaves is cancelled', async (t) => {
  const svc = await startTestService(t);
  linkEndless(svc.config.modelsDir);
  const ac = new AbortController();
  const res = await fetch(`${svc.url}/v1/responses`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
    body: JSON.stringify({ ...endless, background: false, stream: true }),
  });
  const rd = res.body!.getReader();
  let head = '';
  while (!head.includes('response.output_text.delta')) head += new TextDecoder().decode((await rd.read()).value);
  const id = (JSON.parse(/data: (\{.*\})\n/.exec(head)![1]) as { response: ResponseObject }).response.id;
  ac.abort();
  t.ok(await until(() => svc.registry.info().every((m) => m.inFlight === 0)), 'the generation stopped');
  t.ok(await until(async () => (await (await fetch(`${svc.url}/v1/responses/${id}`)).json() as ResponseObject).status === 'cancelled'), 'stored as cancelled');
});

t.test('stored responses survive a restart; one in flight at the stop is failed, not left running', async (t) => {
  const home = tempHome();
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const config = loadConfig(['--home', home], {});
  const first = await startService(config, { logToStderr: false });
  linkEndless(config.modelsDir);
  const c1 = new OpenAI({ baseURL: `${first.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const done = await c1.responses.create({ model: 'stories260k', input: [{ role: 'user', content: 'Once upon a time' }, { role: 'user', content: 'again' }], temperature: 0, max_output_tokens: 12 });
  const running = await c1.responses.create(endless as OpenAI.Responses.ResponseCreateParamsNonStreaming);
  await first.close();
  t.ok(existsSync(responsesDbPath(home)), 'the database lives in the home folder');
  // A process that died mid-run leaves its row in progress: write one as it would have.
  const crashed = new ResponseStore(responsesDbPath(home), { maxAgeMs: 60_000, maxBytes: 1 << 20 });
  const row = crashed.get(done.id)!;
  crashed.put({ response: { ...row.response, id: 'resp_crashed', status: 'in_progress', background: true }, input: row.input }, Date.now());
  crashed.close();

  const second = await startService(config, { logToStderr: false });
  t.teardown(() => second.close());
  const c2 = new OpenAI({ baseURL: `${second.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const back = await c2.responses.retrieve(done.id);
  t.same(back.output, done.output, 'the same output after the restart');
  t.equal(back.output_text, done.output_text);
  const items = await c2.responses.inputItems.list(done.id, { order: 'asc' });
  t.same(items.data.map((i) => i.type), ['message', 'message']);
  const stale = await c2.responses.retrieve(running.id);
  t.equal(stale.status, 'failed', 'the interrupted background response is failed');
  t.match(stale.error, { code: 'shutting_down' }, 'with the reason it stopped');
  const dead = await c2.responses.retrieve('resp_crashed');
  t.equal(dead.status, 'failed', 'a response left in progress by a crash is failed at start');
  t.match(dead.error, { code: 'server_error', message: /stopped before/ });
  const next = await c2.responses.create({ model: 'stories260k', previous_response_id: done.id, input: 'more', temperature: 0, max_output_tokens: 4 });
  t.ok(next.usage!.input_tokens > done.usage!.input_tokens, 'a conversation continues across the restart');
});

t.test('retention: the total size limit removes the oldest through the API', async (t) => {
  const svc = await startTestService(t, ['--responses-max-bytes', '5000']);
  const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push((await client.responses.create({ model: 'stories260k', input: `story ${i} ${'x'.repeat(300)}`, temperature: 0, max_output_tokens: 4 })).id);
  const kept = await Promise.all(ids.map(async (id) => (await failure(client.responses.retrieve(id))) === null));
  t.same(kept, [...kept].sort(), `the oldest went first: ${kept.join(' ')}`);
  t.equal(kept[0], false, 'the oldest is gone');
  t.equal(kept[5], true, 'the newest is kept');
});

t.test('the store: age limit, size limit, and a delete that removes the bytes from disk', async (t) => {
  const dir = tempHome();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'r.db');
  const store = new ResponseStore(path, { maxAgeMs: 60_000, maxBytes: 10_000 });
  t.teardown(() => store.close());
  const response = (id: string, text: string) => ({
    response: { id, object: 'response', status: 'completed', output: [{ type: 'message', content: [{ type: 'output_text', text }] }] } as unknown as ResponseObject,
    input: [],
  });
  const now = Date.now();
  store.put(response('resp_old', 'old'), now - 120_000);
  t.equal(store.get('resp_old'), null, 'older than the age limit: removed as it is written');
  store.put(response('resp_a', 'a'), now - 30_000);
  store.put(response('resp_b', 'b'), now);
  t.equal(store.prune(now + 45_000), 1, 'the one past the age limit goes when time passes');
  t.equal(store.get('resp_a'), null);
  t.ok(store.get('resp_b'));
  for (let i = 0; i < 10; i++) store.put(response(`resp_${i}`, 'y'.repeat(2000)), now + i);
  t.ok(store.stats().bytes <= 10_000, `total ${store.stats().bytes} bytes within the limit`);
  t.ok(store.get('resp_9') && !store.get('resp_0'), 'the newest kept, the oldest removed');

  const marker = 'UNIQUE-SECRET-MARKER-' + 'z'.repeat(50);
  store.put(response('resp_secret', marker), now + 100);
  const onDisk = () => [path, `${path}-wal`].filter(existsSync).some((f) => readFileSync(f).includes(marker));
  t.ok(onDisk(), 'the text is on disk while stored');
  t.ok(store.delete('resp_secret'));
  t.notOk(onDisk(), 'after delete its bytes are gone from the database and its log');
  t.notOk(store.delete('resp_secret'), 'a second delete finds nothing');
});
