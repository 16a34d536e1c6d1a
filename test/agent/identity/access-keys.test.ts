import t from 'tap';
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crucible } from '../../helpers/run.js';
import { startTestService, storyRequest, tempHome } from '../../helpers/service.js';

const req = (url: string, path: string, key: string, method = 'GET', body?: unknown) => fetch(url + path, {
  method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
  ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
});

t.test('scoped, expiring access keys: created through the API, stored as digests, revocable', async (t) => {
  const dir = tempHome();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const keysFile = join(dir, 'keys.json');
  const svc = await startTestService(t, ['--api-keys-file', keysFile]);
  const admin = JSON.parse(readFileSync(keysFile, 'utf8')).primaryKey.value as string;
  const secrets: string[] = [];
  const create = async (key: string, body: unknown) => {
    const r = await req(svc.url, '/api/v1/keys', key, 'POST', body);
    const j = await r.json() as { key?: string; id?: string };
    if (j.key) secrets.push(j.key);
    return { status: r.status, body: j };
  };

  const inv = await create(admin, { name: 'ci', preset: 'invoke', models: ['stories*'], expiresIn: 86400 });
  t.equal(inv.status, 201);
  t.match(inv.body, { id: String, key: /^crucible-ak-/, actions: ['*/invoke', 'models/read'], models: ['stories*'], expiresAt: String, createdBy: 'admin:primary' });
  const invoke = inv.body.key!;

  t.test('an invoke key limited to some models', async (t) => {
    t.equal((await req(svc.url, '/v1/chat/completions', invoke, 'POST', storyRequest({ max_tokens: 2 }))).status, 200, 'its model');
    const other = await req(svc.url, '/v1/chat/completions', invoke, 'POST', storyRequest({ model: 'phi-4', max_tokens: 2 }));
    t.equal(other.status, 403, 'a model outside its globs');
    t.match(await other.json(), { error: { code: 'insufficient_permissions', type: 'permission_error' } });
    const list = await req(svc.url, '/v1/models', invoke);
    t.equal(list.status, 200, 'an invoke key still lists models');
    const ids = ((await list.json()) as { data: { id: string }[] }).data.map((m) => m.id);
    t.ok(ids.length > 0 && ids.every((id) => id.startsWith('stories')), `listing filtered to its models: ${ids.join(', ')}`);
    const full = ((await (await req(svc.url, '/v1/models', admin)).json()) as { data: unknown[] }).data;
    t.ok(full.length > ids.length, 'an admin sees more');
    t.equal((await req(svc.url, '/openai/load/stories260k', invoke)).status, 403, 'invoke, not manage');
    t.equal((await req(svc.url, '/v1/models/pp-ocrv4', invoke)).status, 403, 'describing another model');
    t.equal((await req(svc.url, '/api/v1/keys', invoke)).status, 403, 'no keys/read');
    t.equal((await create(invoke, { preset: 'invoke' })).status, 403, 'no keys/write: cannot create keys');
  });

  t.test('scopes are never wider than the creator\'s', async (t) => {
    const con = await create(admin, { preset: 'contributor', models: ['stories*'] });
    t.equal(con.status, 201);
    const c = con.body.key!;
    t.equal((await create(c, { actions: ['audit/read'] })).status, 400, 'an action the creator lacks');
    t.equal((await create(c, { actions: ['*'] })).status, 400, 'a wildcard wider than the creator');
    t.equal((await create(c, { preset: 'invoke', models: ['*'] })).status, 400, 'more models than the creator');
    const ok = await create(c, { preset: 'read' });
    t.equal(ok.status, 201, 'narrower is fine');
    t.match(ok.body, { models: ['stories*'], createdBy: `key:${con.body.id}` }, 'inherits the creator\'s model limit');
    t.equal((await create(admin, { preset: 'nonsense' })).status, 400);
  });

  t.test('listing, revocation, expiry; secrets only as digests', async (t) => {
    const listed = await req(svc.url, '/api/v1/keys', admin);
    t.equal(listed.status, 200);
    const text = await listed.text();
    t.notOk(secrets.some((s) => text.includes(s)), 'the list shows no secret');
    t.notOk(text.includes('digest'), 'nor digests');
    const file = join(svc.home, 'access-keys.json');
    t.equal(statSync(file).mode & 0o777, 0o600);
    t.notOk(secrets.some((s) => readFileSync(file, 'utf8').includes(s)), 'stored as digests');

    const victim = await create(admin, { preset: 'invoke' });
    t.equal((await req(svc.url, '/v1/models', victim.body.key!)).status, 200);
    t.equal((await req(svc.url, `/api/v1/keys/${victim.body.id}`, admin, 'DELETE')).status, 204);
    const after = await req(svc.url, '/v1/models', victim.body.key!);
    t.equal(after.status, 401, 'revoked: refused on the next request');
    t.match(await after.json(), { error: { code: 'invalid_api_key' } });
    t.equal((await req(svc.url, `/api/v1/keys/${victim.body.id}`, admin, 'DELETE')).status, 404);

    // An expiry in the past (the store is the file; its time has come).
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    stored.keys.find((k: { id: string }) => k.id === inv.body.id).expiresAt = new Date(Date.now() - 1000).toISOString();
    writeFileSync(file, JSON.stringify(stored));
    const expired = await req(svc.url, '/v1/models', invoke);
    t.equal(expired.status, 401);
    t.match(await expired.json(), { error: { code: 'expired_api_key', type: 'authentication_error' } });
  });

  t.test('audited, and no secret in any file the agent wrote', async (t) => {
    const records = readFileSync(join(svc.home, 'audit.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    t.ok(records.some((r) => r.action === 'keys/write' && r.resource === 'POST /api/v1/keys' && r.outcome === 'allowed' && r.status === 201));
    t.ok(records.some((r) => r.action === 'keys/write' && r.outcome === 'refused' && r.status === 403));
    t.ok(records.some((r) => r.resource.startsWith('DELETE /api/v1/keys/') && r.status === 204));
    const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(d, e.name)) : e.isFile() && statSync(join(d, e.name)).size < 8 * 2 ** 20 ? [readFileSync(join(d, e.name), 'latin1')] : []);
    const files = walk(svc.home);
    t.same(secrets.filter((s) => files.some((f) => f.includes(s))), [], 'no access key secret on disk');
  });
});

t.test('failed authentications are limited per client address', async (t) => {
  const svc = await startTestService(t, ['--api-keys', 'the-right-key', '--auth-failure-limit', '3']);
  for (let i = 0; i < 3; i++) t.equal((await req(svc.url, '/v1/models', `wrong-${i}`)).status, 401);
  const limited = await req(svc.url, '/v1/models', 'wrong-again');
  t.equal(limited.status, 429);
  t.ok(Number(limited.headers.get('retry-after')) > 0, 'Retry-After');
  t.match(await limited.json(), { error: { code: 'too_many_auth_failures' } });
  t.equal((await fetch(`${svc.url}/healthz`)).status, 200, 'probes stay open');
  const m = await (await fetch(`${svc.url}/health`)).status;
  t.equal(m, 200, 'the agent is up');
});

t.test('crucible keys create / list / revoke against the running agent', async (t) => {
  const dir = tempHome();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const svc = await startTestService(t, ['--api-keys-file', join(dir, 'keys.json')]);
  const made = await crucible(svc.home, 'keys', 'create', '--preset', 'invoke', '--model', 'stories*', '--model', 'tiny*', '--expires', '30d', '--name', 'ci');
  t.equal(made.status, 0, made.stderr);
  const k = JSON.parse(made.stdout);
  t.match(k, { key: /^crucible-ak-/, models: ['stories*', 'tiny*'], deployments: ['*'], name: 'ci' });
  const one = await crucible(svc.home, 'keys', 'create', '--preset', 'invoke', '--deployment', 'alpha', '--deployment', 'team/*');
  t.equal(one.status, 0, one.stderr);
  t.match(JSON.parse(one.stdout), { deployments: ['alpha', 'team/*'] }, '--deployment limits the key to deployments');
  const days = (Date.parse(k.expiresAt) - Date.now()) / 86400_000;
  t.ok(days > 29 && days <= 30, 'expires in 30 days');
  t.equal((await req(svc.url, '/v1/chat/completions', k.key, 'POST', storyRequest({ max_tokens: 2 }))).status, 200);
  const listed = await crucible(svc.home, 'keys', 'list');
  t.equal(listed.status, 0);
  t.notOk(listed.stdout.includes(k.key), 'no secret in the list');
  t.match(JSON.parse(listed.stdout), [{ id: k.id }]);
  t.equal((await crucible(svc.home, 'keys', 'revoke', k.id)).status, 0);
  t.equal((await req(svc.url, '/v1/models', k.key)).status, 401, 'revoked');
  t.equal((await crucible(svc.home, 'keys', 'create', '--preset', 'bogus')).status, 1);
});
