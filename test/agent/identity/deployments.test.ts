import t from 'tap';
import OpenAI from 'openai';
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startTestService, storyRequest, tempHome, until } from '../../helpers/service.js';
import { TestIssuer } from '../../helpers/oidc.js';

const NS = '/api/v1/namespaces/default/deployments';
const AUD = 'api://crucible';
const spec = (auth = true) => ({ model: { catalog: { name: 'stories260k', version: 'latest' } }, compute: 'cpu', replicas: 1, authentication: { enabled: auth } });

/** Every file under a folder, recursively: its path (relative) and text. */
function filesUnder(dir: string, root = dir): { path: string; text: string }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(p, root);
    return e.isFile() && statSync(p).size < 8 * 2 ** 20 ? [{ path: relative(root, p), text: readFileSync(p, 'latin1') }] : [];
  });
}

t.test('deployments\' data planes: each kind of credential against the right and wrong deployment, model and action', async (t) => {
  const issuer = await TestIssuer.start();
  t.teardown(() => issuer.close());
  const dir = tempHome();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const keysFile = join(dir, 'keys.json');
  const svc = await startTestService(t, ['--api-keys-file', keysFile, '--oidc-issuer', issuer.url, '--oidc-audience', AUD]);
  const admin = JSON.parse(readFileSync(keysFile, 'utf8')).primaryKey.value as string;
  const issued: string[] = [];
  const rotatedKeys: string[] = [];
  const call = async (method: string, path: string, key?: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(svc.url + path, {
      method, headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, www: res.headers.get('www-authenticate'), body: await res.json().catch(() => null) as any };
  };
  const chat = (prefix: string, key?: string, headers: Record<string, string> = {}) =>
    call('POST', `${prefix}/v1/chat/completions`, key, storyRequest({ max_tokens: 2 }), headers);
  const scoped = async (body: unknown) => {
    const r = await call('POST', '/api/v1/keys', admin, body);
    t.equal(r.status, 201, `key ${JSON.stringify(body)}`);
    issued.push(r.body.key);
    return r.body as { key: string; id: string };
  };
  const token = async (claims: Record<string, unknown>) => {
    const s = await issuer.token({ aud: AUD, ...claims });
    issued.push(s);
    return s;
  };

  for (const name of ['alpha', 'beta']) t.equal((await call('POST', NS, admin, { name, spec: spec() })).status, 201, `created ${name}`);
  for (const name of ['alpha', 'beta']) {
    t.ok(await until(async () => (await call('GET', `${NS}/${name}`, admin)).body?.status?.state === 'Running', 60_000), `${name} runs`);
  }
  const alpha = (await call('GET', `${NS}/alpha/keys`, admin)).body;
  const beta = (await call('GET', `${NS}/beta/keys`, admin)).body;

  t.test('no credentials, two different ones, two equal ones; probes', async (t) => {
    const none = await chat('/deployments/alpha');
    t.equal(none.status, 401);
    t.match(none.www, /^Bearer/);
    t.match(none.body, { error: { code: 'missing_credentials', type: 'authentication_error' } });
    const two = await chat('/deployments/alpha', alpha.primaryKey.value, { 'api-key': alpha.secondaryKey.value });
    t.equal(two.status, 400);
    t.match(two.body, { error: { code: 'ambiguous_auth' } });
    t.equal((await chat('/deployments/alpha', alpha.primaryKey.value, { 'api-key': alpha.primaryKey.value })).status, 200, 'the same key twice');
    t.same(await (await fetch(`${svc.url}/deployments/alpha/health`)).json(), { status: 'ok' }, 'health is public');
    t.equal((await fetch(`${svc.url}/deployments/alpha/ready`)).status, 200, 'ready is public');
  });

  t.test('a deployment\'s own keys: its data plane only', async (t) => {
    t.equal((await chat('/deployments/alpha', alpha.primaryKey.value)).status, 200, 'primary on its own');
    t.equal((await chat('/deployments/alpha', undefined, { 'api-key': alpha.secondaryKey.value })).status, 200, 'secondary in api-key');
    t.equal((await chat('/namespaces/default/deployments/alpha', undefined, { 'x-api-key': alpha.primaryKey.value })).status, 200, 'the namespaced path');
    const other = await chat('/deployments/beta', alpha.primaryKey.value);
    t.equal(other.status, 401, 'not on another deployment\'s');
    t.match(other.body, { error: { code: 'invalid_api_key', type: 'authentication_error' } });
    t.equal((await chat('/deployments/alpha', beta.secondaryKey.value)).status, 401, 'beta\'s on alpha');
    const own = await chat('', alpha.secondaryKey.value);
    t.equal(own.status, 401, 'nor on the agent\'s own routes');
    t.match(own.body, { error: { code: 'invalid_api_key' } });
    t.equal((await call('GET', `${NS}/alpha/keys`, alpha.primaryKey.value)).status, 401, 'nor on the control plane');
    t.equal((await call('GET', '/openai/unloadall', alpha.primaryKey.value)).status, 401, 'nor on management routes');
    t.equal((await call('GET', '/deployments/alpha/v1/models', alpha.primaryKey.value)).status, 200, 'it lists its deployment\'s model');
    t.equal((await call('GET', '/deployments/alpha/openai/unloadall', alpha.primaryKey.value)).status, 403, 'and invokes, nothing else');
  });

  t.test('admin keys: every deployment', async (t) => {
    t.equal((await chat('/deployments/alpha', admin)).status, 200);
    t.equal((await chat('/deployments/beta', undefined, { 'api-key': admin })).status, 200);
    t.equal((await chat('/deployments/nope', admin)).status, 404, 'no such deployment');
  });

  t.test('scoped access keys: deployments, models and actions', async (t) => {
    const onAlpha = await scoped({ preset: 'invoke', deployments: ['alpha'] });
    t.equal((await chat('/deployments/alpha', onAlpha.key)).status, 200, 'its deployment');
    t.equal((await chat('/namespaces/default/deployments/alpha', onAlpha.key)).status, 200, 'by its namespaced path');
    const wrong = await chat('/deployments/beta', onAlpha.key);
    t.equal(wrong.status, 403, 'another deployment');
    t.match(wrong.body, { error: { code: 'insufficient_permissions', type: 'permission_error' } });
    t.match(wrong.www, /insufficient_scope/);
    t.equal((await chat('/deployments/nope', onAlpha.key)).status, 403, 'outside its scope whether it exists or not');
    const elsewhere = await chat('', onAlpha.key);
    t.equal(elsewhere.status, 403, 'a key limited to deployments does not invoke on the agent\'s own surface');
    t.match(elsewhere.body, { error: { code: 'insufficient_permissions', message: /limited to deployments alpha/ } });
    t.equal((await call('GET', '/v1/models', onAlpha.key)).status, 403, 'nor list its models');
    const alphaReader = await scoped({ preset: 'read', deployments: ['alpha'] });
    t.equal((await call('GET', `${NS}/alpha`, alphaReader.key)).status, 200, 'its deployment on the control plane');
    t.equal((await call('GET', `${NS}/beta`, alphaReader.key)).status, 403, 'not another one');
    t.equal((await call('GET', NS, alphaReader.key)).status, 403, 'nor the list of all');
    const namespaced = await scoped({ preset: 'invoke', deployments: ['default/b*'] });
    t.equal((await chat('/deployments/beta', namespaced.key)).status, 200, 'a namespace/glob entry');
    t.equal((await chat('/deployments/alpha', namespaced.key)).status, 403);
    const stories = await scoped({ preset: 'invoke', models: ['stories*'] });
    t.equal((await chat('/deployments/alpha', stories.key)).status, 200, 'a model glob that covers the deployment\'s model');
    const phi = await scoped({ preset: 'invoke', models: ['phi-4*'] });
    const wrongModel = await chat('/deployments/alpha', phi.key);
    t.equal(wrongModel.status, 403, 'a deployment serving a model outside its globs');
    t.match(wrongModel.body, { error: { code: 'insufficient_permissions', message: /stories260k/ } });
    t.equal((await call('GET', '/deployments/alpha/v1/models', phi.key)).status, 403, 'not even listed');
    const reader = await scoped({ preset: 'read' });
    t.equal((await call('GET', '/deployments/alpha/v1/models', reader.key)).status, 200, 'a read key lists');
    const noInvoke = await chat('/deployments/alpha', reader.key);
    t.equal(noInvoke.status, 403, 'but does not invoke');
    t.match(noInvoke.www, /scope="chat\/invoke"/);
    const predictOnly = await scoped({ actions: ['predict/invoke'] });
    t.equal((await chat('/deployments/alpha', predictOnly.key)).status, 403, 'another invoke action');

    const victim = await scoped({ preset: 'invoke', deployments: ['alpha'] });
    t.equal((await chat('/deployments/alpha', victim.key)).status, 200);
    t.equal((await call('DELETE', `/api/v1/keys/${victim.id}`, admin)).status, 204);
    const revoked = await chat('/deployments/alpha', victim.key);
    t.equal(revoked.status, 401, 'revoked: refused on the next request');
    t.match(revoked.body, { error: { code: 'invalid_api_key' } });

    const file = join(svc.home, 'access-keys.json');
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    stored.keys.find((k: { id: string }) => k.id === onAlpha.id).expiresAt = new Date(Date.now() - 1000).toISOString();
    writeFileSync(file, JSON.stringify(stored));
    const expired = await chat('/deployments/alpha', onAlpha.key);
    t.equal(expired.status, 401, 'expired');
    t.match(expired.body, { error: { code: 'expired_api_key', type: 'authentication_error' } });
  });

  t.test('tokens: by role, on every deployment', async (t) => {
    const invoker = await token({ roles: ['invoker'] });
    t.equal((await chat('/deployments/alpha', invoker)).status, 200);
    t.equal((await chat('/deployments/beta', invoker)).status, 200);
    const reader = await token({ roles: ['reader'] });
    t.equal((await call('GET', '/deployments/alpha/v1/models', reader)).status, 200, 'a reader lists');
    const denied = await chat('/deployments/alpha', reader);
    t.equal(denied.status, 403, 'a reader does not invoke');
    t.match(denied.body, { error: { code: 'insufficient_permissions' } });
    const expired = await token({ roles: ['admin'], exp: Math.floor(Date.now() / 1000) - 600 });
    const bad = await chat('/deployments/alpha', expired);
    t.equal(bad.status, 401, 'an expired token');
    t.match(bad.body, { error: { code: 'invalid_token' } });
    t.match(bad.www, /error="invalid_token"/);
  });

  t.test('the official openai client on a deployment\'s data plane', async (t) => {
    const client = (key: string) => new OpenAI({ baseURL: `${svc.url}/deployments/alpha/v1`, apiKey: key, maxRetries: 0 });
    const ask = (key: string) => client(key).chat.completions.create(storyRequest({ max_tokens: 2 }) as never);
    t.ok((await ask(alpha.primaryKey.value)).choices.length > 0, 'its own key');
    t.ok(await ask(beta.primaryKey.value).then(() => false, (e) => e instanceof OpenAI.AuthenticationError), 'another deployment\'s key: AuthenticationError');
    const onBeta = await scoped({ preset: 'invoke', deployments: ['beta'] });
    t.ok(await ask(onBeta.key).then(() => false, (e) => e instanceof OpenAI.PermissionDeniedError), 'a key for another deployment: PermissionDeniedError');
  });

  t.test('rotation: the old key is refused at once, the other keeps working', async (t) => {
    const rotated = (await call('POST', `${NS}/alpha/keys/primary/rotate`, admin)).body;
    rotatedKeys.push(rotated.key.value);
    const old = await chat('/deployments/alpha', alpha.primaryKey.value);
    t.equal(old.status, 401, 'the old primary');
    t.match(old.body, { error: { code: 'invalid_api_key' } });
    t.equal((await chat('/deployments/alpha', rotated.key.value)).status, 200, 'the new primary (64 hex digits)');
    t.equal((await chat('/deployments/alpha', alpha.secondaryKey.value)).status, 200, 'the secondary');
    t.equal((await chat('/deployments/beta', rotated.key.value)).status, 401, 'the new key is alpha\'s alone');
  });

  t.test('a deployment without keys of its own: the agent\'s credentials', async (t) => {
    t.equal((await call('PUT', `${NS}/beta`, admin, { name: 'beta', spec: spec(false) })).status, 200);
    t.ok(await until(async () => (await call('GET', `${NS}/beta`, admin)).body?.status?.state === 'Running', 60_000), 'beta runs again');
    t.equal((await chat('/deployments/beta')).status, 401, 'not open while the agent has authentication');
    t.equal((await chat('/deployments/beta', admin)).status, 200, 'an admin key');
    t.equal((await chat('/deployments/beta', await token({ roles: ['invoker'] }))).status, 200, 'a token');
    t.equal((await chat('/deployments/beta', beta.primaryKey.value)).status, 401, 'its old keys are gone');
    t.equal((await chat('/deployments/beta', alpha.secondaryKey.value)).status, 401, 'another deployment\'s key');
  });

  t.test('the control plane by action; audited, refusals included; no secret where it does not belong', async (t) => {
    const reader = await scoped({ preset: 'read' });
    t.equal((await call('GET', NS, reader.key)).status, 200, 'deployments/read');
    const secrets = await call('GET', `${NS}/alpha/keys`, reader.key);
    t.equal(secrets.status, 403, 'key secrets need keys/read');
    t.match(secrets.body, { error: 'Forbidden', details: { code: 'insufficient_permissions' } });
    t.equal((await call('PATCH', `${NS}/alpha`, reader.key, { replicas: 2 })).status, 403, 'deployments/write');
    t.equal((await call('DELETE', `${NS}/beta`, reader.key)).status, 403, 'deployments/delete');
    t.equal((await call('POST', `${NS}/alpha/keys/primary/rotate`, reader.key)).status, 403, 'keys/write');
    const contributor = await scoped({ preset: 'contributor' });
    t.equal((await call('GET', `${NS}/alpha/keys`, contributor.key)).status, 200, 'a contributor reads key secrets');
    t.equal((await call('DELETE', `${NS}/beta`, contributor.key)).status, 200, 'and deletes');

    const records = readFileSync(join(svc.home, 'audit.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    t.ok(records.some((r) => r.resource === `POST ${NS}` && r.action === 'deployments/write' && r.outcome === 'allowed'), 'creation audited');
    t.ok(records.some((r) => r.resource === `POST ${NS}/alpha/keys/primary/rotate` && r.action === 'keys/write' && r.outcome === 'allowed'), 'rotation audited');
    t.ok(records.some((r) => r.resource === `GET ${NS}/alpha/keys` && r.action === 'keys/read' && r.outcome === 'allowed'), 'reading key secrets audited');
    t.ok(records.some((r) => r.resource === `DELETE ${NS}/beta` && r.outcome === 'refused' && r.status === 403), 'a refused delete audited');
    t.ok(records.some((r) => r.resource === `DELETE ${NS}/beta` && r.outcome === 'allowed'), 'the allowed delete audited');
    t.ok(records.some((r) => r.resource === `GET ${NS}/alpha/keys` && r.outcome === 'refused' && r.status === 401 && r.reason === 'invalid_api_key'),
      'a deployment key refused on the control plane is audited');
    t.ok(records.some((r) => r.resource === 'GET /openai/unloadall' && r.outcome === 'refused' && r.status === 401), 'and on a management route');
    t.ok(records.some((r) => r.resource === 'POST /deployments/beta/v1/chat/completions' && r.outcome === 'refused' && r.status === 403
      && r.actor.kind === 'key' && r.action === 'chat/invoke'), 'a refused data-plane call names its actor and action');
    t.notOk(records.some((r) => r.outcome === 'allowed' && r.resource.includes('/v1/chat/completions')), 'invokes that pass are not management calls');

    // Deployments' keys must be kept to be shown again (deployments.json, 0600); nothing else holds a secret.
    const deploymentKeys = [alpha.primaryKey.value, alpha.secondaryKey.value, beta.primaryKey.value, beta.secondaryKey.value, ...rotatedKeys];
    const files = filesUnder(svc.home);
    t.ok(files.length > 0);
    const leaks = files.flatMap((f) => [admin, ...issued, ...deploymentKeys]
      .filter((s) => f.text.includes(s) && !(f.path === 'deployments.json' && deploymentKeys.includes(s)))
      .map((s) => ({ file: f.path, secret: `${s.slice(0, 12)}...` })));
    t.same(leaks, [], 'no admin key, access key or token in any file the agent wrote; deployments\' keys only in deployments.json');
    const audit = readFileSync(join(svc.home, 'audit.log'), 'utf8');
    t.notOk(deploymentKeys.some((k) => audit.includes(k)), 'no deployment key in the audit log');
  });
});

t.test('with nothing configured, a deployment with keys still takes only its own', async (t) => {
  const svc = await startTestService(t);
  const call = (method: string, path: string, key?: string, body?: unknown) => fetch(svc.url + path, {
    method, headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  t.equal((await call('POST', NS, undefined, { name: 'solo', spec: spec() })).status, 201);
  t.ok(await until(async () => ((await (await call('GET', `${NS}/solo`)).json()) as any).status?.state === 'Running', 60_000), 'solo runs');
  const keys = (await (await call('GET', `${NS}/solo/keys`)).json()) as any;
  const chat = (key?: string) => call('POST', '/deployments/solo/v1/chat/completions', key, storyRequest({ max_tokens: 2 }));
  const none = await chat();
  t.equal(none.status, 401);
  t.match(await none.json(), { error: { code: 'missing_credentials' } });
  const wrong = await chat('fndry-pk-00000000-0000-4000-8000-000000000000');
  t.equal(wrong.status, 401);
  t.match(await wrong.json(), { error: { code: 'invalid_api_key' } });
  t.equal((await chat(keys.primaryKey.value)).status, 200);
  t.equal((await call('POST', '/v1/chat/completions', undefined, storyRequest({ max_tokens: 2 }))).status, 200, 'the agent\'s own surface stays open');
  const { existsSync } = await import('node:fs');
  t.notOk(existsSync(join(svc.home, 'audit.log')), 'still no audit file');
});
