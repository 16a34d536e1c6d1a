import t from 'tap';
import OpenAI from 'openai';
import { PipeClient } from '../../../clients/typescript/pipe-client.js';
import { linkEndless, startTestService } from '../../helpers/service.js';

const story = { model: 'stories260k', input: 'Once upon a time', temperature: 0, max_output_tokens: 4 };
/** An endless generation in the background: it only ends when cancelled. */
const endless = { model: 'endless', input: 'x', background: true, max_output_tokens: 1_000_000, ignore_eos: true, temperature: 0 };

t.test('stored responses belong to their creator: to anyone else they do not exist', async (t) => {
  const svc = await startTestService(t, ['--api-keys', 'admin-one,admin-two']);
  linkEndless(svc.config.modelsDir);
  const call = async (key: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(svc.url + path, {
      method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json().catch(() => null) as any };
  };
  const keyFor = async (name: string) => (await call('admin-one', 'POST', '/api/v1/keys', { name, preset: 'invoke' })).body.key as string;
  const alice = await keyFor('alice');
  const bob = await keyFor('bob');

  const mine = await call(alice, 'POST', '/v1/responses', story);
  t.equal(mine.status, 200, 'alice stores a response');
  const id = mine.body.id as string;
  t.equal((await call(alice, 'GET', `/v1/responses/${id}`)).status, 200, 'she reads it');
  t.equal((await call(alice, 'GET', `/v1/responses/${id}/input_items`)).status, 200, 'and its input items');

  for (const [method, path, body] of [
    ['GET', `/v1/responses/${id}`],
    ['GET', `/v1/responses/${id}/input_items`],
    ['POST', `/v1/responses/${id}/cancel`],
    ['DELETE', `/v1/responses/${id}`],
  ] as [string, string, unknown?][]) {
    const r = await call(bob, method, path, body);
    t.equal(r.status, 404, `bob: ${method} ${path.replace(id, '{id}')}`);
    t.match(r.body, { error: { code: 'not_found', message: new RegExp(id) } }, 'the same answer as for no such response');
  }
  const follow = await fetch(`${svc.url}/v1/responses/${id}?stream=true`, { headers: { authorization: `Bearer ${bob}` } });
  t.equal(follow.status, 404, 'bob cannot follow its events');
  const chained = await call(bob, 'POST', '/v1/responses', { ...story, previous_response_id: id });
  t.equal(chained.status, 404, 'nor continue from it');
  t.match(chained.body, { error: { code: 'not_found', param: 'previous_response_id' } });
  t.equal((await call(admin(), 'GET', `/v1/responses/${id}`)).status, 404, 'nor may an admin key read it: ownership, not rank');
  t.equal((await call(alice, 'GET', `/v1/responses/${id}`)).status, 200, 'bob\'s attempts deleted nothing');
  t.equal((await call(alice, 'POST', '/v1/responses', { ...story, previous_response_id: id })).status, 200, 'alice continues from it');

  // A response still running in the background: others can neither follow nor cancel it.
  const running = await call(alice, 'POST', '/v1/responses', endless);
  t.equal(running.status, 200);
  const rid = running.body.id as string;
  const live = await fetch(`${svc.url}/v1/responses/${rid}?stream=true`, { headers: { authorization: `Bearer ${bob}` } });
  t.equal(live.status, 404, 'bob cannot follow a live run');
  t.equal((await call(bob, 'POST', `/v1/responses/${rid}/cancel`)).status, 404, 'nor cancel it');
  t.equal((await call(bob, 'DELETE', `/v1/responses/${rid}`)).status, 404, 'nor delete it');
  t.equal((await call(alice, 'GET', `/v1/responses/${rid}`)).body.status, 'in_progress', 'it still runs');
  const cancelled = await call(alice, 'POST', `/v1/responses/${rid}/cancel`);
  t.equal(cancelled.body.status, 'cancelled', 'alice cancels it');

  // The admin keys are one identity: a rotation to the other key keeps what it stored.
  const adminMade = (await call('admin-one', 'POST', '/v1/responses', story)).body.id as string;
  t.equal((await call('admin-two', 'GET', `/v1/responses/${adminMade}`)).status, 200, 'the secondary admin key reads the primary\'s');
  t.equal((await call(alice, 'GET', `/v1/responses/${adminMade}`)).status, 404, 'a scoped key does not');

  // The official client sees NotFoundError.
  const bobClient = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: bob, maxRetries: 0 });
  t.ok(await bobClient.responses.retrieve(id).then(() => false, (e) => e instanceof OpenAI.NotFoundError), 'openai: NotFoundError');
  t.equal((await call(alice, 'DELETE', `/v1/responses/${id}`)).status, 200, 'alice deletes hers');

  function admin() { return 'admin-one'; }
});

t.test('with nothing configured the local user owns what it stores, over HTTP and the pipe alike', async (t) => {
  const svc = await startTestService(t);
  const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const r = await client.responses.create(story as OpenAI.Responses.ResponseCreateParamsNonStreaming);
  t.equal((await client.responses.retrieve(r.id)).id, r.id, 'HTTP reads its own');
  const pipe = await PipeClient.connect(svc.pipeName);
  t.teardown(() => pipe.close());
  t.equal((await pipe.getResponse(r.id)).id, r.id, 'the pipe is the same local user');
  const viaPipe = await pipe.createResponse(story);
  t.equal((await client.responses.retrieve(viaPipe.id)).id, viaPipe.id, 'and HTTP reads what the pipe stored');
});

t.test('a database from before owners were recorded: its rows are the local user\'s', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { default: Database } = await import('libsql');
  const { ResponseStore } = await import('../../../agent/responses/store.js');
  const dir = mkdtempSync(join(tmpdir(), 'cru-owner-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'responses.db');
  const old = new Database(path);
  old.exec('CREATE TABLE responses (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, response TEXT NOT NULL, input TEXT NOT NULL, bytes INTEGER NOT NULL)');
  old.prepare('INSERT INTO responses VALUES (?, ?, ?, ?, ?)').run('resp_old', Date.now(), JSON.stringify({ id: 'resp_old', status: 'completed' }), '[]', 10);
  old.close();
  const store = new ResponseStore(path, { maxAgeMs: 60_000, maxBytes: 1 << 20 });
  t.teardown(() => store.close());
  t.equal(store.get('resp_old')?.owner, 'local');
  store.put({ response: { id: 'resp_new', status: 'completed' } as never, input: [], owner: 'key:abc' }, Date.now());
  t.equal(store.get('resp_new')?.owner, 'key:abc');
});
