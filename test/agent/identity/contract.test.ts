import t from 'tap';
import OpenAI from 'openai';
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { startTestService, storyRequest, tempHome } from '../../helpers/service.js';
import { TestIssuer } from '../../helpers/oidc.js';

const AUD = 'api://crucible';

const call = (url: string, path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(url + path, {
  method, headers: { ...(method === 'POST' ? { 'content-type': 'application/json' } : {}), ...headers },
  ...(method === 'POST' && path === '/v1/chat/completions' ? { body: JSON.stringify(storyRequest({ max_tokens: 2 })) } : {}),
});
const chat = (url: string, headers: Record<string, string>) => call(url, '/v1/chat/completions', headers, 'POST');
const bearer = (v: string) => ({ authorization: `Bearer ${v}` });

/** Every file under a folder, recursively, as text (what the agent wrote). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile() && statSync(p).size < 8 * 2 ** 20) out.push(readFileSync(p, 'latin1'));
  }
  return out;
}

t.test('the authentication contract: keys, tokens, roles, probes', async (t) => {
  const issuer = await TestIssuer.start();
  t.teardown(() => issuer.close());
  const dir = tempHome();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const keysFile = join(dir, 'keys.json');
  const assignments = join(dir, 'roles.json');
  writeFileSync(assignments, JSON.stringify({ 'oid-assigned': ['contributor'], 'group-readers': ['reader'] }));
  const svc = await startTestService(t, [
    '--api-keys-file', keysFile, '--oidc-issuer', issuer.url, '--oidc-audience', `other,${AUD}`,
    '--oidc-role-map', 'Crucible.Invoke=invoker, Models.Read=reader', '--role-assignments-file', assignments,
    '--oidc-jwks-cooldown', '0',
  ]);
  const keys = JSON.parse(readFileSync(keysFile, 'utf8'));
  const key = keys.primaryKey.value as string;
  const issued: string[] = [key, keys.secondaryKey.value];
  const tok = async (claims: Parameters<TestIssuer['token']>[0] = {}, opts: Parameters<TestIssuer['token']>[1] = {}) => {
    const s = await issuer.token({ aud: AUD, ...claims }, opts);
    issued.push(s);
    return s;
  };

  t.test('probes are public', async (t) => {
    for (const p of ['/health', '/healthz', '/ready', '/readyz']) t.equal((await call(svc.url, p)).status, 200, p);
    t.equal((await call(svc.url, '/healthz', bearer('garbage'))).status, 200, 'even with a bad credential');
  });

  t.test('no credentials, two different ones, two equal ones', async (t) => {
    const none = await chat(svc.url, {});
    t.equal(none.status, 401);
    t.match(none.headers.get('www-authenticate'), /^Bearer/);
    t.match(await none.json(), { error: { code: 'missing_credentials', type: 'authentication_error' } });
    const two = await chat(svc.url, { ...bearer(key), 'api-key': keys.secondaryKey.value });
    t.equal(two.status, 400);
    t.match(await two.json(), { error: { code: 'ambiguous_auth' } });
    const twoBad = await chat(svc.url, { ...bearer(key), 'api-key': 'something-else' });
    t.equal(twoBad.status, 400, 'ambiguity is reported before either value is checked');
    t.equal((await chat(svc.url, { ...bearer(key), 'api-key': key })).status, 200, 'the same key twice is fine');
    t.equal((await chat(svc.url, { 'x-api-key': key })).status, 200);
  });

  t.test('keys: classified by shape', async (t) => {
    for (const bad of ['fndry-pk-00000000-0000-0000-0000-000000000000', 'a'.repeat(64), 'plain-wrong', 'x.y.z']) {
      const r = await chat(svc.url, bearer(bad));
      t.equal(r.status, 401, bad.slice(0, 12));
      t.match(r.headers.get('www-authenticate'), /^Bearer/);
      t.match(await r.json(), { error: { code: 'invalid_api_key', type: 'authentication_error' } });
    }
    t.equal((await chat(svc.url, { 'api-key': await tok({ roles: ['admin'] }) })).status, 401, 'a token in api-key is taken as a key');
  });

  t.test('tokens: valid, roles, per route', async (t) => {
    const admin = await tok({ roles: ['admin'] });
    t.equal((await chat(svc.url, bearer(admin))).status, 200, 'admin token invokes');
    const reader = await tok({ roles: ['reader'] });
    t.equal((await call(svc.url, '/v1/models', bearer(reader))).status, 200, 'reader lists models');
    t.equal((await call(svc.url, '/metrics', bearer(reader))).status, 200, 'reader reads metrics');
    const denied = await chat(svc.url, bearer(reader));
    t.equal(denied.status, 403);
    t.match(denied.headers.get('www-authenticate'), /error="insufficient_scope", scope="chat\/invoke"/);
    t.match(await denied.json(), { error: { code: 'insufficient_permissions', type: 'permission_error' } });
    const invoker = await tok({ scp: 'Crucible.Invoke' });
    t.equal((await chat(svc.url, bearer(invoker))).status, 200, 'a mapped scope grants invoker');
    t.equal((await call(svc.url, '/v1/models', bearer(invoker))).status, 200, 'invokers list models');
    t.equal((await call(svc.url, '/openai/load/stories260k', bearer(invoker))).status, 403, 'a GET that loads a model is a write');
    t.equal((await call(svc.url, '/openai/unloadall', bearer(reader))).status, 403, 'unloadall on GET is a write');
    t.equal((await call(svc.url, '/openai/setgpudevice/0', bearer(invoker))).status, 403);
    t.equal((await call(svc.url, '/metrics', bearer(invoker))).status, 403, 'invokers do not read metrics');
    const mapped = await tok({ roles: ['Models.Read'] });
    t.equal((await call(svc.url, '/openai/status', bearer(mapped))).status, 200, 'a mapped role');
    const none = await tok({ roles: ['Unrelated'] });
    const r = await call(svc.url, '/v1/models', bearer(none));
    t.equal(r.status, 403, 'no roles: authenticated but allowed nothing');
    t.match(await r.json(), { error: { code: 'insufficient_permissions' } });
    const assigned = await tok({ oid: 'oid-assigned' });
    t.equal((await call(svc.url, '/openai/unloadall', bearer(assigned))).status, 200, 'a role from the assignments file (by oid)');
    const nobody = await tok({ sub: undefined, roles: ['admin'] });
    const refused = await call(svc.url, '/v1/models', bearer(nobody));
    t.equal(refused.status, 401, 'a token naming no subject (no oid, no sub) is refused');
    t.match(await refused.json(), { error: { code: 'invalid_token' } });
    const group = await tok({ sub: 'someone', groups: ['group-readers'] });
    t.equal((await call(svc.url, '/v1/models', bearer(group))).status, 200, 'a role from the assignments file (by group)');
    t.equal((await call(svc.url, '/no/such/route', bearer(reader))).status, 403, 'a route with no table entry is admins only');
    t.equal((await call(svc.url, '/no/such/route', bearer(admin))).status, 404);
  });

  t.test('tokens that fail validation', async (t) => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string][] = [
      ['expired beyond the tolerance', await tok({ roles: ['admin'], exp: now - 600 })],
      ['not yet valid', await tok({ roles: ['admin'], nbf: now + 600 })],
      ['without exp', await tok({ roles: ['admin'], exp: null })],
      ['wrong issuer', await tok({ roles: ['admin'], iss: 'https://elsewhere.example' })],
      ['wrong audience', await tok({ roles: ['admin'], aud: 'api://other-service' })],
      ['HS256 (a shared secret)', await new SignJWT({ iss: issuer.url, aud: AUD, roles: ['admin'], exp: now + 600 })
        .setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode('s'.repeat(32)))],
      ['a tampered payload', (await tok({ roles: ['reader'] })).replace(/\.([^.]+)\./, (_, p: string) => `.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), roles: ['admin'] })).toString('base64url')}.`)],
    ];
    for (const [name, token] of cases) {
      issued.push(token);
      const r = await chat(svc.url, bearer(token));
      t.equal(r.status, 401, name);
      t.match(r.headers.get('www-authenticate'), /error="invalid_token"/, name);
      t.match(await r.json(), { error: { code: 'invalid_token', type: 'authentication_error' } }, name);
    }
    t.equal((await chat(svc.url, bearer(await tok({ roles: ['admin'], exp: now - 20 })))).status, 200, 'expired within the 60 s tolerance');
  });

  t.test('an unknown kid, then the issuer rotates to it', async (t) => {
    await issuer.addKey('k2', 'ES256', false);
    const next = await tok({ roles: ['admin'] }, { kid: 'k2' });
    const before = await chat(svc.url, bearer(next));
    t.equal(before.status, 401, 'not in the key set yet');
    t.match(await before.json(), { error: { code: 'invalid_token' } });
    issuer.published.add('k2');
    t.equal((await chat(svc.url, bearer(next))).status, 200, 'picked up once published');
    issuer.published.delete('k1');
    t.equal((await chat(svc.url, bearer(await tok({ roles: ['admin'] })))).status, 200, 'the old key stays cached until it is refetched');
  });

  t.test('the control plane gets its own envelope', async (t) => {
    const r = await call(svc.url, '/api/v1/namespaces/default/deployments');
    t.equal(r.status, 401);
    t.match(await r.json(), { error: 'Unauthorized', message: String, details: { code: 'missing_credentials' } });
    const reader = await tok({ roles: ['reader'] }, { kid: 'k2' });
    const w = await call(svc.url, '/api/v1/namespaces/default/deployments', bearer(reader), 'POST');
    t.equal(w.status, 403);
    t.match(await w.json(), { error: 'Forbidden', details: { code: 'insufficient_permissions' } });
    t.equal((await call(svc.url, '/api/v1/namespaces/default/deployments', bearer(reader))).status, 200, 'reads pass');
    t.equal((await call(svc.url, '/api/v1/namespaces/default/deployments/x/keys', bearer(reader))).status, 403, 'key secrets need keys/read');
  });

  t.test('the official openai client sees AuthenticationError and PermissionDeniedError', async (t) => {
    const bad = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'not-a-key', maxRetries: 0 });
    t.ok(await bad.models.list().then(() => false, (e) => e instanceof OpenAI.AuthenticationError), 'AuthenticationError');
    const readerToken = await tok({ roles: ['reader'] }, { kid: 'k2' });
    const reader = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: readerToken, maxRetries: 0 });
    t.ok((await reader.models.list()).data.length > 0);
    t.ok(await reader.chat.completions.create(storyRequest({ max_tokens: 2 }) as never).then(() => false, (e) => e instanceof OpenAI.PermissionDeniedError), 'PermissionDeniedError');
  });

  t.test('the audit log: one record per management call, allowed and refused', async (t) => {
    const admin = await tok({ roles: ['admin'], oid: 'oid-admin' }, { kid: 'k2' });
    const reader = await tok({ roles: ['reader'], oid: 'oid-reader' }, { kid: 'k2' });
    const file = join(svc.home, 'audit.log');
    const before = readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
    t.equal((await call(svc.url, '/openai/unloadall', bearer(admin))).status, 200);
    t.equal((await call(svc.url, '/openai/unloadall', bearer(reader))).status, 403);
    t.equal((await call(svc.url, '/openai/unloadall', bearer('fndry-sk-wrong'))).status, 401);
    t.equal((await call(svc.url, '/v1/models', bearer(admin))).status, 200, 'a read is not a management call');
    t.equal((await call(svc.url, '/openai/unloadall', { 'x-api-key': key })).status, 200);
    t.equal(statSync(file).mode & 0o777, 0o600, 'the audit file is private');
    const records = readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(before).map((l) => JSON.parse(l));
    t.match(records, [
      { actor: { kind: 'jwt', id: 'oid-admin' }, action: 'models/write', resource: 'GET /openai/unloadall', outcome: 'allowed', status: 200, requestId: String, time: String },
      { actor: { kind: 'jwt', id: 'oid-reader' }, action: 'models/write', outcome: 'refused', status: 403, reason: 'insufficient_permissions' },
      { actor: { kind: 'anonymous' }, outcome: 'refused', status: 401, reason: 'invalid_api_key' },
      { actor: { kind: 'key', id: 'admin:primary' }, outcome: 'allowed', status: 200 },
    ]);
    t.equal(records.length, 4, 'one record each');
    const api = await call(svc.url, '/api/v1/audit?limit=2', bearer(admin));
    t.equal(api.status, 200);
    t.match(((await api.json()) as { value: unknown[] }).value, [{ actor: { id: 'admin:primary' } }, { reason: 'invalid_api_key' }], 'newest first');
    const contributor = await tok({ roles: ['contributor'] }, { kid: 'k2' });
    t.equal((await call(svc.url, '/api/v1/audit', bearer(contributor))).status, 403, 'audit/read is admins only');
  });

  t.test('refusals are counted by reason; no credential reaches any file', async (t) => {
    const admin = await tok({ roles: ['admin'] }, { kid: 'k2' });
    const m = await (await call(svc.url, '/metrics', bearer(admin))).text();
    t.match(m, /crucible_auth_failures_total\{reason="invalid_token"\} [1-9]/);
    t.match(m, /crucible_auth_failures_total\{reason="insufficient_permissions"\} [1-9]/);
    const files = filesUnder(svc.home);
    t.ok(files.length > 0);
    const leaked = issued.filter((s) => files.some((f) => f.includes(s)));
    t.same(leaked, [], 'no key or token appears in any file the agent wrote (the keys file is the operator\'s, outside the home)');
  });
});

t.test('the identity provider down: a cold cache gives 503, a warm one keeps working', async (t) => {
  const issuer = await TestIssuer.start();
  const svc = await startTestService(t, ['--oidc-issuer', issuer.url, '--oidc-audience', AUD]);
  const warm = await startTestService(t, ['--oidc-issuer', issuer.url, '--oidc-audience', AUD]);
  const token = await issuer.token({ aud: AUD, roles: ['reader'] });
  t.equal((await call(warm.url, '/v1/models', bearer(token))).status, 200, 'warms the cache');
  await issuer.close();
  const cold = await call(svc.url, '/v1/models', bearer(token));
  t.equal(cold.status, 503, 'never a 401 when the keys cannot be fetched');
  t.ok(Number(cold.headers.get('retry-after')) > 0, 'Retry-After');
  t.match(await cold.json(), { error: { code: 'identity_provider_unavailable' } });
  t.equal((await call(warm.url, '/v1/models', bearer(token))).status, 200, 'cached keys still verify');
  t.equal((await call(svc.url, '/health')).status, 200, 'the agent is still up');
});

t.test('a key-set file: no network at all', async (t) => {
  const issuer = await TestIssuer.start();
  const dir = tempHome();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const jwks = join(dir, 'jwks.json');
  writeFileSync(jwks, JSON.stringify(issuer.jwks()));
  const token = await issuer.token({ aud: AUD, roles: ['invoker'] });
  await issuer.close();
  const svc = await startTestService(t, ['--oidc-issuer', issuer.url, '--oidc-audience', AUD, '--oidc-jwks-file', jwks]);
  t.equal((await chat(svc.url, bearer(token))).status, 200);
  t.equal((await call(svc.url, '/openai/unloadall', bearer(token))).status, 403);
  t.equal((await chat(svc.url, {})).status, 401, 'tokens alone enable authentication');
});

t.test('with nothing configured on loopback there is no authentication', async (t) => {
  const svc = await startTestService(t);
  t.equal((await chat(svc.url, {})).status, 200);
  t.equal((await call(svc.url, '/openai/unloadall')).status, 200);
  const { existsSync } = await import('node:fs');
  t.notOk(existsSync(join(svc.home, 'audit.log')), 'no audit file');
  t.notOk(existsSync(join(svc.home, 'access-keys.json')));
  t.equal((await call(svc.url, '/api/v1/keys')).status, 404, 'no key management without authentication');
});

t.test('--oidc-issuer without --oidc-audience is refused at start', async (t) => {
  await t.rejects(startTestService(t, ['--oidc-issuer', 'http://127.0.0.1:1']), /--oidc-audience/);
});
