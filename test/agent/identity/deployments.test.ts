import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startTestService, storyRequest, tempHome, until } from '../../helpers/service.js';

const NS = '/api/v1/namespaces/default/deployments';
const spec = { model: { catalog: { name: 'stories260k', version: 'latest' } }, compute: 'cpu', replicas: 1, authentication: { enabled: true } };

t.test('deployments\' keys are valid only on their own data plane; the control plane by action', async (t) => {
  const dir = tempHome();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const keysFile = join(dir, 'keys.json');
  const svc = await startTestService(t, ['--api-keys-file', keysFile]);
  const admin = JSON.parse(readFileSync(keysFile, 'utf8')).primaryKey.value as string;
  const call = async (method: string, path: string, key?: string, body?: unknown) => {
    const res = await fetch(svc.url + path, {
      method, headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json().catch(() => null) as any };
  };
  const chatVia = (prefix: string, key: string) => fetch(`${svc.url}${prefix}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(storyRequest({ max_tokens: 2 })),
  });

  for (const name of ['alpha', 'beta']) t.equal((await call('POST', NS, admin, { name, spec })).status, 201, `created ${name}`);
  for (const name of ['alpha', 'beta']) {
    t.ok(await until(async () => (await call('GET', `${NS}/${name}`, admin)).body?.status?.state === 'Running', 60_000), `${name} runs`);
  }
  const alpha = (await call('GET', `${NS}/alpha/keys`, admin)).body;
  t.equal((await chatVia('/deployments/alpha', alpha.primaryKey.value)).status, 200, 'its key on its data plane');
  const other = await chatVia('/deployments/beta', alpha.primaryKey.value);
  t.equal(other.status, 401, 'not on another deployment\'s');
  t.match(await other.json(), { error: { code: 'invalid_api_key', type: 'authentication_error' } });
  const none = await fetch(`${svc.url}/deployments/alpha/v1/models`);
  t.equal(none.status, 401);
  t.match(await none.json(), { error: { code: 'missing_credentials' } });
  const two = await fetch(`${svc.url}/deployments/alpha/v1/models`, { headers: { authorization: `Bearer ${alpha.primaryKey.value}`, 'api-key': alpha.secondaryKey.value } });
  t.equal(two.status, 400, 'two different keys: ambiguous_auth');
  t.match(await two.json(), { error: { code: 'ambiguous_auth' } });
  const own = await chatVia('', alpha.secondaryKey.value);
  t.equal(own.status, 401, 'nor on the agent\'s own routes');
  t.match(await own.json(), { error: { code: 'invalid_api_key' } });
  t.equal((await call('GET', `${NS}/alpha/keys`, alpha.primaryKey.value)).status, 401, 'nor on the control plane');

  // A read-only access key: reads deployments, not their key secrets, changes nothing.
  const reader = (await call('POST', '/api/v1/keys', admin, { preset: 'read' })).body.key as string;
  t.equal((await call('GET', NS, reader)).status, 200, 'deployments/read');
  const secrets = await call('GET', `${NS}/alpha/keys`, reader);
  t.equal(secrets.status, 403, 'key secrets need keys/read');
  t.match(secrets.body, { error: 'Forbidden', details: { code: 'insufficient_permissions' } });
  t.equal((await call('PATCH', `${NS}/alpha`, reader, { replicas: 2 })).status, 403, 'deployments/write');
  t.equal((await call('DELETE', `${NS}/beta`, reader)).status, 403, 'deployments/delete');
  t.equal((await call('POST', `${NS}/alpha/keys/primary/rotate`, reader)).status, 403, 'keys/write');
  const contributor = (await call('POST', '/api/v1/keys', admin, { preset: 'contributor' })).body.key as string;
  t.equal((await call('GET', `${NS}/alpha/keys`, contributor)).status, 200, 'a contributor reads key secrets');
  t.equal((await call('DELETE', `${NS}/beta`, contributor)).status, 200, 'and deletes');

  const records = readFileSync(join(svc.home, 'audit.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  t.ok(records.some((r) => r.resource === `POST ${NS}` && r.action === 'deployments/write' && r.outcome === 'allowed'), 'creation audited');
  t.ok(records.some((r) => r.resource === `DELETE ${NS}/beta` && r.outcome === 'refused' && r.status === 403), 'a refused delete audited');
  t.ok(records.some((r) => r.resource === `DELETE ${NS}/beta` && r.outcome === 'allowed'), 'the allowed delete audited');
  const text = readFileSync(join(svc.home, 'audit.log'), 'utf8');
  t.notOk([admin, reader, contributor, alpha.primaryKey.value, alpha.secondaryKey.value].some((s) => text.includes(s)), 'no secret in the audit log');
});
