import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../../agent/config.js';
import { startService } from '../../../agent/service.js';
import { item, renderText } from '../../helpers/images.js';
import { GREEDY, STORIES_ID, linkEndless, slowStream, startTestService, storyRequest, tempHome, until } from '../../helpers/service.js';

type Svc = { url: string; registry: { runner(name: string): unknown; pinnedInfo(id: string): unknown } };

const api = (svc: { url: string }, headers: Record<string, string> = {}) => async (method: string, path: string, body?: unknown) => {
  const res = await fetch(svc.url + path, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: await res.json() as any, headers: res.headers };
};

const NS = '/api/v1/namespaces';
const spec = (extra: Record<string, unknown> = {}) => ({ model: { catalog: { name: 'stories260k', version: 'latest' } }, compute: 'cpu', ...extra });

/** Waits for a deployment's state and returns it. */
async function settle(call: ReturnType<typeof api>, ns: string, name: string, state = 'Running') {
  let last: any;
  await until(async () => {
    last = (await call('GET', `${NS}/${ns}/deployments/${name}`)).body;
    return last.status?.state === state;
  }, 60_000);
  return last;
}

/** A chat request through a path; a deployment's path serves its own model, whatever the body names. */
const chatVia = (svc: { url: string }, path: string, key?: string) => fetch(`${svc.url}${path}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
  body: JSON.stringify(storyRequest({ model: path === '' ? 'stories260k' : 'anything' })),
});

/** The worker threads of a loaded model's pool (0 when it is not loaded or not known). */
function workers(svc: Svc, id: string): number {
  try {
    return (svc.registry.runner(id) as { pool?: { threads: unknown[] } } | null)?.pool?.threads.length ?? 0;
  } catch {
    return 0;
  }
}

t.test('a deployment\'s life cycle: replicas, its data plane with only its keys, rotation, PATCH, PUT and DELETE', async (t) => {
  const svc = await startTestService(t);
  const call = api(svc);

  const created = await call('POST', `${NS}/default/deployments`, { name: 'stories', spec: spec({ replicas: 2, authentication: { enabled: true }, displayName: 'Stories' }) });
  t.equal(created.status, 201);
  t.match(created.body, { name: 'stories', namespace: 'default', spec: { replicas: 2, workloadType: 'generative', port: 5000 }, metadata: { generation: 1 } });
  t.ok(['Creating', 'Running'].includes(created.body.status.state), 'it starts Creating');

  const running = await settle(call, 'default', 'stories');
  t.match(running.status, {
    state: 'Running', replicas: 2, readyReplicas: 2, deploymentReady: true, serviceReady: true,
    internalEndpoint: `${svc.url}/deployments/stories`, externalEndpoint: null,
    resolvedModel: { name: STORIES_ID, image: null }, authentication: { enabled: true },
  });
  t.ok(running.status.conditions.some((c: any) => c.type === 'Available' && c.status === 'True'));
  t.equal(workers(svc, 'deployments/default/stories'), 2, 'two worker threads of its own');
  t.notOk(svc.registry.runner(STORIES_ID), 'the plain model is not loaded by it: the deployment has its own workers');
  t.same(await (await fetch(`${svc.url}/openai/loadedmodels`)).json(), [], 'the agent\'s loaded models do not include it');
  await fetch(`${svc.url}/openai/unloadall`);
  t.equal(workers(svc, 'deployments/default/stories'), 2, 'unloading all models leaves deployments running');

  const keys = (await call('GET', `${NS}/default/deployments/stories/keys`)).body;
  t.match(keys, { deploymentName: 'stories', namespace: 'default' });
  t.match(keys.primaryKey.value, /^fndry-pk-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.match(keys.secondaryKey.value, /^fndry-sk-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.ok(!Number.isNaN(Date.parse(keys.primaryKey.createdAt)));

  // Its data plane, under its path, with its keys only.
  const ok = await chatVia(svc, '/deployments/stories', keys.primaryKey.value);
  t.equal(ok.status, 200);
  const answer = await ok.json() as any;
  t.equal(answer.choices[0].message.content, GREEDY.slice(0, answer.choices[0].message.content.length), 'the greedy story');
  t.ok(answer.choices[0].message.content.length > 20);
  const viaApiKey = await fetch(`${svc.url}/deployments/stories/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'api-key': keys.secondaryKey.value }, body: JSON.stringify(storyRequest({ max_tokens: 5 })),
  });
  t.equal(viaApiKey.status, 200, 'the secondary key in an api-key header');
  t.equal((await chatVia(svc, '/deployments/stories')).status, 401, 'no key');
  t.equal((await chatVia(svc, '/deployments/stories', 'fndry-pk-00000000-0000-4000-8000-000000000000')).status, 401, 'a wrong key');
  t.equal((await chatVia(svc, '/namespaces/default/deployments/stories', keys.primaryKey.value)).status, 200, 'the namespaced path');
  const model = await fetch(`${svc.url}/deployments/stories/v1/model`, { headers: { 'x-api-key': keys.primaryKey.value } });
  t.equal(model.status, 200);
  t.match(await model.json(), { name: 'deployments/default/stories', task: 'chat' });
  const models = await fetch(`${svc.url}/deployments/stories/v1/models`, { headers: { authorization: `Bearer ${keys.primaryKey.value}` } });
  t.same(((await models.json()) as any).data.map((m: any) => m.id), ['deployments/default/stories'], 'it lists only its model');
  t.same(await (await fetch(`${svc.url}/deployments/stories/health`)).json(), { status: 'ok' });
  t.match(await (await fetch(`${svc.url}/deployments/stories/ready`)).json(), { status: 'ready', readyReplicas: 2 });
  t.equal((await fetch(`${svc.url}/deployments/nope/health`)).status, 404);
  t.equal((await chatVia(svc, '/deployments/nope', keys.primaryKey.value)).status, 404, 'no such deployment');
  t.equal((await chatVia(svc, '', keys.primaryKey.value)).status, 200, 'the agent\'s own surface is unaffected (no agent keys here)');

  // Rotation: the old primary is refused at once, the secondary keeps working.
  const rotated = await call('POST', `${NS}/default/deployments/stories/keys/primary/rotate`);
  t.equal(rotated.status, 200);
  t.match(rotated.body, { deploymentName: 'stories', namespace: 'default', keyType: 'primary' });
  t.match(rotated.body.key.value, /^[0-9a-f]{64}$/);
  t.equal((await chatVia(svc, '/deployments/stories', keys.primaryKey.value)).status, 401, 'the old primary key is refused');
  t.equal((await chatVia(svc, '/deployments/stories', keys.secondaryKey.value)).status, 200, 'the secondary is unaffected');
  t.equal((await chatVia(svc, '/deployments/stories', rotated.body.key.value)).status, 200, 'the new primary works');
  const after = (await call('GET', `${NS}/default/deployments/stories/keys`)).body;
  t.equal(after.primaryKey.value, rotated.body.key.value);
  t.equal(after.secondaryKey.value, keys.secondaryKey.value);
  const sec = (await call('POST', `${NS}/default/deployments/stories/keys/secondary/rotate`)).body;
  t.equal((await chatVia(svc, '/deployments/stories', keys.secondaryKey.value)).status, 401, 'the old secondary is refused');
  t.equal((await chatVia(svc, '/deployments/stories', sec.key.value)).status, 200);
  const badType = await call('POST', `${NS}/default/deployments/stories/keys/tertiary/rotate`);
  t.equal(badType.status, 400);
  t.equal(badType.body.details.errors[0].field, 'keyType');

  // PATCH: replicas reload the workers; env, resources and endpoint are recorded.
  const patched = await call('PATCH', `${NS}/default/deployments/stories`, {
    replicas: 3, env: [{ name: 'MODE', value: 'x' }], resources: { limits: { cpu: '2', memory: '1Gi' } }, endpoint: { host: 'stories.example.com', path: '/s', tls: { enabled: true } },
  });
  t.equal(patched.status, 200);
  t.match(patched.body, { spec: { replicas: 3, env: [{ name: 'MODE', value: 'x' }], resources: { limits: { cpu: '2', memory: '1Gi' } } }, metadata: { generation: 2 } });
  t.equal(patched.body.status.externalEndpoint, 'https://stories.example.com/s');
  const three = await settle(call, 'default', 'stories');
  t.equal(three.status.readyReplicas, 3);
  await until(() => workers(svc, 'deployments/default/stories') === 3);
  t.equal(workers(svc, 'deployments/default/stories'), 3, 'three worker threads now');
  t.equal((await chatVia(svc, '/deployments/stories', sec.key.value)).status, 200, 'keys survive a PATCH');
  const merged = (await call('PATCH', `${NS}/default/deployments/stories`, { resources: { requests: { cpu: '500m' } } })).body;
  t.same(merged.spec.resources, { limits: { cpu: '2', memory: '1Gi' }, requests: { cpu: '500m' } }, 'resources merge');
  for (const [body, field] of [[{ model: { ref: 'x' } }, 'model'], [{ authentication: { enabled: false } }, 'authentication'], [{ replicas: 0 }, 'replicas'], [{ replicas: 101 }, 'replicas'], [{ env: [{ name: '1bad', value: '' }] }, 'env.0.name']] as const) {
    const r = await call('PATCH', `${NS}/default/deployments/stories`, body);
    t.equal(r.status, 400, `PATCH ${JSON.stringify(body)} refused`);
    t.equal(r.body.error, 'ValidationError');
    t.equal(r.body.details.errors[0].field, field);
  }

  // PUT replaces the spec; turning authentication off drops the keys.
  const put = await call('PUT', `${NS}/default/deployments/stories`, { name: 'stories', spec: spec({ replicas: 1 }) });
  t.equal(put.status, 200);
  t.same(put.body.spec.env, undefined, 'a full replace');
  await settle(call, 'default', 'stories');
  const disabled = await call('GET', `${NS}/default/deployments/stories/keys`);
  t.equal(disabled.status, 400);
  t.equal(disabled.body.error, 'AuthenticationDisabled');
  t.equal((await call('POST', `${NS}/default/deployments/stories/keys/primary/rotate`)).body.error, 'AuthenticationDisabled');
  t.equal((await chatVia(svc, '/deployments/stories')).status, 200, 'without authentication its data plane is open (no agent keys here)');
  t.equal((await call('PUT', `${NS}/default/deployments/stories`, { name: 'other', spec: spec() })).body.details.errors[0].field, 'name');

  const conflict = await call('POST', `${NS}/default/deployments`, { name: 'stories', spec: spec() });
  t.equal(conflict.status, 409);
  t.equal(conflict.body.error, 'Conflict');

  const deleted = await call('DELETE', `${NS}/default/deployments/stories`);
  t.same(deleted.body, { status: 'deleted', name: 'stories', namespace: 'default' });
  t.equal(svc.registry.pinnedInfo('deployments/default/stories'), null, 'its workers are gone');
  t.equal(workers(svc, 'deployments/default/stories'), 0);
  const gone = await call('GET', `${NS}/default/deployments/stories`);
  t.equal(gone.status, 404);
  t.equal(gone.body.error, 'NotFound');
  t.equal((await chatVia(svc, '/deployments/stories')).status, 404);
  t.equal((await call('DELETE', `${NS}/default/deployments/stories`)).status, 404);
});

t.test('every control-plane error type with its status', async (t) => {
  const svc = await startTestService(t);
  const call = api(svc);
  const cases: [string, string, unknown, string, number, string | null][] = [
    ['POST', `${NS}/default/deployments`, { name: 'x', spec: spec({ compute: 'tpu' }) }, 'ValidationError', 400, 'spec.compute'],
    ['POST', `${NS}/default/deployments`, { name: 'x', spec: spec({ compute: 'gpu' }) }, 'ValidationError', 400, 'spec.resources.limits.gpu'],
    ['POST', `${NS}/default/deployments`, { name: 'x', spec: spec({ compute: 'gpu', resources: { limits: { gpu: 9 } } }) }, 'ValidationError', 400, 'spec.resources.limits.gpu'],
    ['POST', `${NS}/default/deployments`, { name: 'Not_A_Label', spec: spec() }, 'ValidationError', 400, 'name'],
    ['POST', `${NS}/default/deployments`, { name: 'x'.repeat(64), spec: spec() }, 'ValidationError', 400, 'name'],
    ['POST', `${NS}/default/deployments`, { name: 'x', spec: spec({ replicas: 0 }) }, 'ValidationError', 400, 'spec.replicas'],
    ['POST', `${NS}/default/deployments`, { name: 'x', spec: spec({ port: 80 }) }, 'ValidationError', 400, 'spec.port'],
    ['POST', `${NS}/default/deployments`, { name: 'x', spec: spec({ model: { ref: 'a', catalog: { name: 'b' } } }) }, 'ValidationError', 400, 'spec.model'],
    ['POST', `${NS}/default/deployments`, { name: 'x', spec: spec({ resources: { limits: { memory: 'lots' } } }) }, 'ValidationError', 400, 'spec.resources.limits.memory'],
    ['POST', `${NS}/default/deployments`, { name: 'x' }, 'ValidationError', 400, 'spec'],
    ['POST', `${NS}/Bad_NS/deployments`, { name: 'x', spec: spec() }, 'ValidationError', 400, 'ns'],
    ['GET', '/api/v1/deployments?limit=0', undefined, 'ValidationError', 400, 'limit'],
    ['GET', '/api/v1/deployments?continue=garbage', undefined, 'ValidationError', 400, 'continue'],
    ['GET', `${NS}/default/deployments/missing`, undefined, 'NotFound', 404, null],
    ['PATCH', `${NS}/default/deployments/missing`, { replicas: 2 }, 'NotFound', 404, null],
    ['GET', `${NS}/default/deployments/missing/keys`, undefined, 'NotFound', 404, null],
    ['POST', `${NS}/default/deployments/missing/keys/primary/rotate`, undefined, 'NotFound', 404, null],
    ['GET', '/api/v1/no-such-thing', undefined, 'NotFound', 404, null],
  ];
  for (const [method, path, body, error, status, field] of cases) {
    const r = await call(method, path, body);
    t.equal(r.status, status, `${method} ${path} ${JSON.stringify(body) ?? ''}: ${status}`);
    t.equal(r.body.error, error);
    t.type(r.body.message, 'string');
    if (field) t.equal(r.body.details.errors[0].field, field, `names ${field}`);
  }
  const raw = await fetch(`${svc.url}${NS}/default/deployments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' });
  t.equal(raw.status, 400, 'malformed JSON');
  t.equal(((await raw.json()) as any).error, 'ValidationError');

  // Conflict and AuthenticationDisabled.
  t.equal((await call('POST', `${NS}/default/deployments`, { name: 'plain', spec: spec() })).status, 201);
  const dup = await call('POST', `${NS}/default/deployments`, { name: 'plain', spec: spec() });
  t.same([dup.status, dup.body.error], [409, 'Conflict']);
  const keys = await call('GET', `${NS}/default/deployments/plain/keys`);
  t.same([keys.status, keys.body.error], [400, 'AuthenticationDisabled']);

  // A deployment whose model does not fit its workload ends in Error, and says why.
  t.equal((await call('POST', `${NS}/default/deployments`, { name: 'wrong', spec: spec({ workloadType: 'predictive' }) })).status, 201);
  const wrong = await settle(call, 'default', 'wrong', 'Error');
  t.match(wrong.status.message, /generative model; spec.workloadType is predictive/);
  t.equal(wrong.status.readyReplicas, 0);
  t.equal((await fetch(`${svc.url}/deployments/wrong/ready`)).status, 503, 'not ready');
  const refused = await chatVia(svc, '/deployments/wrong');
  t.equal(refused.status, 500, 'its data plane says why it cannot serve');
  t.match(((await refused.json()) as any).error.message, /is in Error: .*workloadType is predictive/);
  t.equal((await call('POST', `${NS}/default/deployments`, { name: 'ghost', spec: spec({ model: { ref: 'no-such-model' } }) })).status, 201);
  t.match((await settle(call, 'default', 'ghost', 'Error')).status.message, /does not exist/);

  // InternalError: the agent cannot persist the deployment (its file is a folder here).
  mkdirSync(join(svc.home, 'deployments.json.tmp'));
  const broken = await call('POST', `${NS}/default/deployments`, { name: 'unsaved', spec: spec() });
  t.equal(broken.status, 500);
  t.equal(broken.body.error, 'InternalError');
  rmSync(join(svc.home, 'deployments.json.tmp'), { recursive: true });
  t.equal((await call('GET', `${NS}/default/deployments/unsaved`)).status, 404, 'what could not be stored does not exist');
  t.equal((await fetch(`${svc.url}/healthz`)).status, 200, 'and the agent is still up');
});

t.test('cursor pagination across namespaces', async (t) => {
  const svc = await startTestService(t);
  const call = api(svc);
  for (const [ns, name] of [['team-a', 'one'], ['team-a', 'two'], ['default', 'three'], ['team-b', 'four'], ['team-a', 'five']]) {
    // A ref to a model that is not there: nothing loads, the listing is what is tested.
    t.equal((await call('POST', `${NS}/${ns}/deployments`, { name, spec: spec({ model: { ref: 'absent' } }) })).status, 201);
  }
  const seen: string[] = [];
  let token: string | null = null;
  let pages = 0;
  do {
    const r: any = (await call('GET', `/api/v1/deployments?limit=2${token ? `&continue=${encodeURIComponent(token)}` : ''}`)).body;
    t.ok(r.count <= 2);
    t.equal(r.count, r.items.length);
    seen.push(...r.items.map((d: any) => `${d.namespace}/${d.name}`));
    token = r.continueToken;
    pages++;
  } while (token && pages < 10);
  t.equal(pages, 3, '5 items in pages of 2');
  t.same(seen, ['default/three', 'team-a/five', 'team-a/one', 'team-a/two', 'team-b/four'], 'every deployment once, in order');
  const a = (await call('GET', `${NS}/team-a/deployments?limit=2`)).body;
  t.same(a.items.map((d: any) => d.name), ['five', 'one']);
  const a2 = (await call('GET', `${NS}/team-a/deployments?limit=2&continue=${encodeURIComponent(a.continueToken)}`)).body;
  t.same(a2.items.map((d: any) => d.name), ['two']);
  t.equal(a2.continueToken, null, 'no more pages');
  t.same((await call('GET', `${NS}/empty/deployments`)).body, { items: [], count: 0, continueToken: null });
});

t.test('with agent keys: the control plane needs one; a deployment with authentication takes its own and the admin keys', async (t) => {
  const svc = await startTestService(t, ['--api-keys', 'agent-key']);
  const anon = api(svc);
  const admin = api(svc, { authorization: 'Bearer agent-key' });
  t.equal((await anon('GET', '/api/v1/deployments')).status, 401, 'the control plane is guarded by the agent keys');
  t.equal((await anon('GET', '/healthz')).status, 200, '/healthz is open');
  t.equal((await anon('GET', '/readyz')).status, 200);
  t.equal((await admin('POST', `${NS}/default/deployments`, { name: 'own', spec: spec({ authentication: { enabled: true } }) })).status, 201);
  t.equal((await admin('POST', `${NS}/default/deployments`, { name: 'open', spec: spec() })).status, 201);
  await settle(admin, 'default', 'own');
  await settle(admin, 'default', 'open');
  const keys = (await admin('GET', `${NS}/default/deployments/own/keys`)).body;
  // An admin key may read the deployment's keys anyway; refusing it there would protect nothing.
  t.equal((await chatVia(svc, '/deployments/own', 'agent-key')).status, 200, 'the agent\'s admin key opens a deployment with its own keys too');
  t.equal((await chatVia(svc, '/deployments/own', 'fndry-pk-00000000-0000-4000-8000-000000000000')).status, 401, 'a wrong key does not');
  t.equal((await chatVia(svc, '/deployments/own', keys.primaryKey.value)).status, 200);
  t.equal((await chatVia(svc, '', keys.primaryKey.value)).status, 401, 'and its key does not open the agent');
  t.equal((await chatVia(svc, '/deployments/open')).status, 401, 'without keys of its own, a deployment takes the agent\'s');
  t.equal((await chatVia(svc, '/deployments/open', 'agent-key')).status, 200);
});

t.test('deployments and their keys persist across a restart', async (t) => {
  const home = tempHome();
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const start = () => startService(loadConfig(['--home', home], {}), { logToStderr: false });
  let svc = await start();
  let closed = false;
  t.teardown(async () => { if (!closed) await svc.close(); });
  let call = api(svc);
  t.equal((await call('POST', `${NS}/prod/deployments`, { name: 'kept', spec: spec({ replicas: 2, authentication: { enabled: true }, maxQueue: 4 }) })).status, 201);
  await settle(call, 'prod', 'kept');
  const rotated = (await call('POST', `${NS}/prod/deployments/kept/keys/secondary/rotate`)).body.key.value;
  const keys = (await call('GET', `${NS}/prod/deployments/kept/keys`)).body;
  await svc.close();

  svc = await start();
  call = api(svc);
  const back = await settle(call, 'prod', 'kept');
  t.match(back, { name: 'kept', namespace: 'prod', spec: { replicas: 2, maxQueue: 4 }, status: { state: 'Running', readyReplicas: 2 } });
  t.equal(back.status.internalEndpoint, `${svc.url}/namespaces/prod/deployments/kept`, 'its endpoint on the new address');
  t.same((await call('GET', `${NS}/prod/deployments/kept/keys`)).body, keys, 'the same keys');
  t.equal((await chatVia(svc, '/namespaces/prod/deployments/kept', rotated)).status, 200, 'the rotated key still opens it');
  t.equal((await chatVia(svc, '/namespaces/prod/deployments/kept', keys.primaryKey.value)).status, 200);
  t.equal(workers(svc as unknown as Svc, 'deployments/prod/kept'), 2);
  await svc.close();
  closed = true;
});

t.test('a deployment has its own queue limit, and a predictive deployment serves /v1/predict under its path', async (t) => {
  // One sequence per worker, so a single endless stream fills the deployment.
  const svc = await startTestService(t, ['--max-batch', '1']);
  linkEndless(svc.config.modelsDir);
  const call = api(svc);
  t.equal((await call('POST', `${NS}/default/deployments`, { name: 'busy', spec: spec({ model: { ref: 'endless' }, maxQueue: 1 }) })).status, 201);
  await settle(call, 'default', 'busy');
  const id = 'deployments/default/busy';
  const stream = (signal: AbortSignal) => fetch(`${svc.url}/deployments/busy/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(slowStream()), signal,
  });
  const first = new AbortController();
  const second = new AbortController();
  t.teardown(() => { first.abort(); second.abort(); });
  const running = await stream(first.signal);
  t.equal(running.status, 200);
  const reader = running.body!.getReader();
  await reader.read();
  const queued = stream(second.signal).catch(() => null);
  t.ok(await until(() => (svc.registry.pinnedInfo(id) as { queued: number } | null)?.queued === 1), 'the second request waits in its queue');
  const third = await fetch(`${svc.url}/deployments/busy/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(slowStream()) });
  t.equal(third.status, 503, 'past its queue limit of 1 (the agent\'s --max-queue is 32)');
  t.ok(third.headers.get('retry-after'));
  t.equal(((await third.json()) as any).error.code, 'overloaded');
  first.abort();
  await reader.cancel().catch(() => {});
  const admitted = await queued;
  t.equal(admitted?.status, 200, 'the queued one is served once the first ends');
  second.abort();

  t.equal((await call('POST', `${NS}/default/deployments`, { name: 'ocr', spec: spec({ model: { ref: 'pp-ocrv4' }, workloadType: 'predictive', authentication: { enabled: true } }) })).status, 201);
  await settle(call, 'default', 'ocr');
  const keys = (await call('GET', `${NS}/default/deployments/ocr/keys`)).body;
  const png = await renderText(['Deployed text 42']);
  const predict = (key?: string) => fetch(`${svc.url}/deployments/ocr/v1/predict`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) }, body: JSON.stringify({ items: [item(png)] }),
  });
  const res = await predict(keys.primaryKey.value);
  t.equal(res.status, 200);
  const body = await res.json() as any;
  t.equal(body.predictions[0].text, 'Deployed text 42');
  t.equal(body.model, 'deployments/default/ocr');
  t.equal((await predict()).status, 401, 'only with its key');
  const meta = await (await fetch(`${svc.url}/deployments/ocr/v1/model`, { headers: { 'x-api-key': keys.secondaryKey.value } })).json() as any;
  t.same(meta.sessions.map((s: any) => s.name), ['det', 'cls', 'rec']);
});
