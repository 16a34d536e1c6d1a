import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { STORIES, startTestService, storyRequest } from '../../helpers/service.js';

const DEVICES = ['CPU', 'GPU', 'NPU'];
const PUBLISHERS = ['Contoso', 'Fabrikam', 'Northwind'];

/** A remote catalog of 45 entries: publisher, task and device cycle so every filter has a known count. */
async function catalogServer(count = 45) {
  let hits = 0;
  const entries = Array.from({ length: count }, (_, i) => ({
    name: `remote-${String(i).padStart(2, '0')}-generic:1`, alias: `remote-${String(i).padStart(2, '0')}`, displayName: `Remote model ${i}`,
    version: '1', uri: 'https://models.example.com/m', publisher: PUBLISHERS[i % 3], task: i % 5 === 0 ? 'automatic-speech-recognition' : 'chat-completion',
    runtime: { deviceType: DEVICES[i % 3], executionProvider: 'CPUExecutionProvider' }, license: 'MIT', files: [{ path: 'model.onnx' }],
  }));
  const server = http.createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(entries));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/catalog.json`,
    hits: () => hits,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const call = async (base: string, method: string, path: string, body?: unknown) => {
  const res = await fetch(base + path, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: await res.json() as any };
};

t.test('GET /api/v1/models: every filter, offset pages and their boundaries, the summary fields', async (t) => {
  const cat = await catalogServer();
  t.teardown(cat.close);
  const svc = await startTestService(t, ['--catalog-url', cat.url]);
  const get = (q: string) => call(svc.url, 'GET', `/api/v1/models${q}`);

  const all = (await get('')).body;
  // 5 built-in entries and 45 remote ones.
  t.equal(all.total, 50);
  t.equal(all.unfilteredTotal, 50);
  t.equal(all.count, 50);
  t.equal(all.hasMore, false);
  t.equal(all.limit, null, 'no limit given: null');
  t.equal(all.offset, null);
  t.type(all.version, 'string');
  t.type(all.lastSync, 'string', 'the remote catalog was fetched');
  const stories = all.models.find((m: any) => m.alias === 'stories260k');
  t.same(stories, {
    name: 'stories260k-generic-cpu:1', displayName: 'stories260k (TinyStories, 260K parameters)', alias: 'stories260k', publisher: 'karpathy/tinyllamas',
    description: null, license: 'MIT', task: 'chat-completion', source: 'foundry-local', framework: 'ONNX', modelVersion: '1', supportedCompute: ['cpu'], cached: true,
  });

  // Filters: counts follow from the generated catalog.
  t.equal((await get('?compute=gpu')).body.total, 15);
  t.equal((await get('?compute=npu')).body.total, 15);
  t.equal((await get('?compute=cpu')).body.total, 20, '15 remote + 5 built-in');
  t.equal((await get('?publisher=contoso')).body.total, 15, 'partial, case-insensitive');
  t.equal((await get('?publisher=wind')).body.total, 15);
  t.equal((await get('?task=AUTOMATIC-speech-recognition')).body.total, 9, 'exact, case-insensitive');
  t.equal((await get('?task=speech')).body.total, 0, 'task is an exact match');
  t.equal((await get('?name=REMOTE-1')).body.total, 10, 'partial on id and alias: remote-1, remote-10..18');
  t.equal((await get('?name=Remote%20model%207')).body.total, 1, 'partial on displayName');
  t.equal((await get('?source=foundry-local')).body.total, 50);
  t.equal((await get('?source=custom')).body.total, 0);
  t.equal((await get('?source=foundry')).body.total, 0);
  const combined = (await get('?compute=gpu&publisher=fabrikam')).body;
  t.equal(combined.total, 15, 'i % 3 == 1 is both GPU and Fabrikam');
  t.equal(combined.unfilteredTotal, 50);
  t.ok(combined.models.every((m: any) => m.supportedCompute.includes('gpu') && m.publisher === 'Fabrikam'));

  // Offset pagination over the 45 remote entries, as the seed's example pages them.
  const p1 = (await get('?name=remote&limit=20&offset=0')).body;
  t.match(p1, { total: 45, count: 20, hasMore: true, limit: 20, offset: 0 });
  const p2 = (await get('?name=remote&limit=20&offset=20')).body;
  t.match(p2, { total: 45, count: 20, hasMore: true, offset: 20 });
  const p3 = (await get('?name=remote&limit=20&offset=40')).body;
  t.match(p3, { total: 45, count: 5, hasMore: false, offset: 40 });
  const names = [...p1.models, ...p2.models, ...p3.models].map((m: any) => m.name);
  t.equal(new Set(names).size, 45, 'the pages neither overlap nor skip');
  t.match((await get('?name=remote&limit=5&offset=40')).body, { count: 5, hasMore: false }, 'a page ending exactly at the end has no more');
  t.match((await get('?name=remote&limit=5&offset=39')).body, { count: 5, hasMore: true });
  t.match((await get('?name=remote&offset=45')).body, { total: 45, count: 0, hasMore: false }, 'past the end: empty');
  t.match((await get('?limit=500')).body, { limit: 100, count: 50 }, 'limit is clamped to 100');
  t.match((await get('?limit=0')).body, { limit: 1, count: 1, hasMore: true }, 'and to at least 1');

  for (const [q, field] of [['?offset=-1', 'offset'], ['?limit=ten', 'limit'], ['?compute=tpu', 'compute'], ['?source=hub', 'source'], ['?limit=2.5', 'limit']]) {
    const r = await get(q);
    t.equal(r.status, 400, q);
    t.equal(r.body.error, 'ValidationError');
    t.equal(r.body.details.errors[0].field, field, `${q} names ${field}`);
  }

  const one = await call(svc.url, 'GET', '/api/v1/models/foundry-local/stories260k');
  t.equal(one.status, 200, 'by alias');
  t.equal(one.body.name, 'stories260k-generic-cpu:1');
  t.equal(one.body.spec.uri.startsWith('file:'), true, 'the catalog entry rides along');
  t.equal((await call(svc.url, 'GET', '/api/v1/models/foundry-local/stories260k-generic-cpu:1')).body.alias, 'stories260k', 'by id');
  const missing = await call(svc.url, 'GET', '/api/v1/models/foundry-local/no-such-model');
  t.equal(missing.status, 404);
  t.equal(missing.body.error, 'NotFound');
  t.equal((await call(svc.url, 'GET', '/api/v1/models/foundry/phi-4-mini')).body.error, 'NotFound', 'no Microsoft Foundry catalog here');

  const before = cat.hits();
  const sync = await call(svc.url, 'POST', '/api/v1/models/sync');
  t.equal(sync.status, 200);
  t.match(sync.body, { status: 'triggered', message: 'Catalog sync requested' });
  t.ok(!Number.isNaN(Date.parse(sync.body.syncedAt)));
  t.equal(cat.hits(), before + 1, 'the sync fetched the remote catalog');
});

t.test('custom models: a folder, an OpenAI-compatible URL and a registry reference; update, delete and SSRF refusals', async (t) => {
  const folder = mkdtempSync(join(tmpdir(), 'cru-custom-'));
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const model = join(folder, 'mine');
  mkdirSync(model);
  for (const f of ['onnx', 'config.json', 'genai_config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) symlinkSync(join(STORIES, f), join(model, f));
  const svc = await startTestService(t);
  const post = (body: unknown) => call(svc.url, 'POST', '/api/v1/models', body);
  const custom = (name: string, c: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    ({ name, source: { type: 'custom', custom: c }, ...extra });

  const byFolder = await post(custom('mine', { path: model }, { displayName: 'My stories', publisher: 'me', capabilities: { task: 'chat-completion', contextLength: 512 } }));
  t.equal(byFolder.status, 201);
  t.match(byFolder.body, { name: 'mine', displayName: 'My stories', source: 'custom', framework: 'ONNX', cached: true, spec: { source: { custom: { path: model } } } });
  // It serves at once under its name.
  const chat = await call(svc.url, 'POST', '/v1/chat/completions', storyRequest({ model: 'mine', max_tokens: 8 }));
  t.equal(chat.status, 200);
  t.equal(chat.body.choices[0].message.content, ', there was a little girl', 'the folder\'s model answers');

  const acr = await post(custom('acr-model', { registry: 'myacr.azurecr.io', repository: 'models/my-model', tag: 'v1.0', credentials: { secretRef: { name: 's', usernameKey: 'username', passwordKey: 'password' } } }));
  t.equal(acr.status, 201);
  t.match(acr.body, { framework: 'Custom/OCI', modelVersion: 'v1.0', cached: false });

  t.equal((await post(custom('mine', { path: model }))).body.error, 'Conflict', 'a taken name');
  t.equal((await post(custom('mine', { path: model }))).status, 409);

  const list = (await call(svc.url, 'GET', '/api/v1/models?source=custom')).body;
  t.same(list.models.map((m: any) => m.name).sort(), ['acr-model', 'mine']);
  t.equal((await call(svc.url, 'GET', '/api/v1/models?source=custom&publisher=ME')).body.total, 1);
  t.equal((await call(svc.url, 'GET', '/api/v1/models/custom/acr-model')).body.spec.source.custom.repository, 'models/my-model');

  const put = await call(svc.url, 'PUT', '/api/v1/models/custom/acr-model', custom('acr-model', { registry: 'myacr.azurecr.io', repository: 'models/my-model', tag: 'v2.0' }, { description: 'newer' }));
  t.equal(put.status, 200);
  t.match(put.body, { modelVersion: 'v2.0', description: 'newer' });
  t.equal((await call(svc.url, 'GET', '/api/v1/models/custom/acr-model')).body.modelVersion, 'v2.0', 'the update is what is served after');
  t.equal((await call(svc.url, 'PUT', '/api/v1/models/custom/acr-model', custom('other', { registry: 'myacr.azurecr.io', repository: 'r' }))).body.details.errors[0].field, 'name');
  t.equal((await call(svc.url, 'PUT', '/api/v1/models/custom/nope', custom('nope', { registry: 'myacr.azurecr.io', repository: 'r' }))).status, 404);

  // Server-side request forgery: private, internal and bare-IP hosts.
  for (const registry of ['10.0.0.5', '127.0.0.1', '192.168.1.10:5000', '[::1]', 'localhost', 'localhost:5000', 'registry.svc.cluster.local', 'metadata.google.internal', 'myregistry', 'acr.internal', '2130706433', 'printer.local']) {
    const r = await post(custom('evil', { registry, repository: 'x' }));
    t.equal(r.status, 400, `registry ${registry} refused`);
    t.equal(r.body.error, 'ValidationError');
    t.equal(r.body.details.errors[0].field, 'source.custom.registry');
  }
  for (const url of ['http://169.254.169.254/latest/meta-data', 'http://localhost:8080/v1', 'http://[::1]:9000/v1', 'http://10.1.2.3/v1', 'http://0x7f.1/v1', 'ftp://models.example.com/v1', 'http://user:pw@models.example.com/v1']) {
    const r = await post(custom('evil', { url }));
    t.equal(r.status, 400, `url ${url} refused`);
    t.equal(r.body.details.errors[0].field, 'source.custom.url');
  }
  t.equal((await call(svc.url, 'GET', '/api/v1/models/custom/evil')).status, 404, 'nothing refused was stored');
  const okUrl = await post(custom('remote-openai', { url: 'https://models.example.com/v1' }));
  t.equal(okUrl.status, 201, 'a public host is accepted');
  t.equal(okUrl.body.framework, 'OpenAI-compatible');
  t.ok((await call(svc.url, 'GET', '/openai/models')).body.includes('remote-openai'), 'a URL becomes an external model the agent serves');

  // Shape errors name their fields.
  const shapes: [unknown, string][] = [
    [custom('Bad_Name', { path: model }), 'name'],
    [{ name: 'x', source: { type: 'foundry', custom: { path: model } } }, 'source.type'],
    [custom('x', { path: model, url: 'https://a.example.com' }), 'source.custom'],
    [custom('x', {}), 'source.custom'],
    [custom('x', { registry: 'myacr.azurecr.io' }), 'source.custom.repository'],
    [custom('x', { path: '/no/such/folder' }), 'source.custom.path'],
    [custom('x', { path: 'relative/folder' }), 'source.custom.path'],
    [custom('x', { path: folder }), 'source.custom.path'],
  ];
  for (const [body, field] of shapes) {
    const r = await post(body);
    t.equal(r.status, 400, `${JSON.stringify(body)} refused`);
    t.equal(r.body.details.errors[0].field, field, `and names ${field}`);
  }
  const bad = await fetch(`${svc.url}/api/v1/models`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name": ' });
  t.equal(bad.status, 400, 'malformed JSON');
  t.equal(((await bad.json()) as any).error, 'ValidationError');

  t.same((await call(svc.url, 'DELETE', '/api/v1/models/custom/mine')).body, { status: 'deleted', name: 'mine' });
  t.equal((await call(svc.url, 'GET', '/api/v1/models/custom/mine')).status, 404);
  t.equal((await call(svc.url, 'POST', '/v1/chat/completions', storyRequest({ model: 'mine' }))).status, 404, 'the deleted model no longer serves');
  t.ok(existsSync(join(model, 'tokenizer.json')), 'the user\'s folder stays');
  t.equal((await call(svc.url, 'DELETE', '/api/v1/models/custom/remote-openai')).status, 200);
  t.notOk((await call(svc.url, 'GET', '/openai/models')).body.includes('remote-openai'), 'its external registration went with it');
  const again = await call(svc.url, 'DELETE', '/api/v1/models/custom/mine');
  t.equal(again.status, 404);
  t.equal(again.body.error, 'NotFound');
});

t.test('--allow-private-registries lets private hosts through', async (t) => {
  const svc = await startTestService(t, ['--allow-private-registries']);
  const r = await call(svc.url, 'POST', '/api/v1/models', { name: 'lan', source: { type: 'custom', custom: { registry: '10.0.0.5:5000', repository: 'm' } } });
  t.equal(r.status, 201);
  const u = await call(svc.url, 'POST', '/api/v1/models', { name: 'lan-url', source: { type: 'custom', custom: { url: 'http://127.0.0.1:9/v1' } } });
  t.equal(u.status, 201);
});
