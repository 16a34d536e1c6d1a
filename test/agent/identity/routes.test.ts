import t from 'tap';
import { ROLES, allows, requiredAction, routeRule } from '../../../agent/identity/actions.js';
import { AccessKeys } from '../../../agent/identity/access-keys.js';
import { classifyBearer } from '../../../agent/identity/classify.js';
import type { ControlPlaneApi } from '../../../protocol/control-plane.js';
import type { CrucibleApi } from '../../../protocol/operations.js';
import { createHttpApp } from '../../../transports/http/app.js';

t.test('every registered route has an entry in the action table', async (t) => {
  // Only the route list is read: no handler runs, so the operations are never called.
  const app = createHttpApp({} as CrucibleApi, { control: {} as ControlPlaneApi, ui: true, audit: () => [], accessKeys: new AccessKeys('/nonexistent/access-keys.json'), metrics: async () => ({ contentType: 'text/plain', body: '' }), liveMetrics: async () => ({}) as never });
  // ALL routes are the fallbacks (`/api/v1/*` NotFound) and deployments' data planes.
  const routes = app.routes.flatMap((r) => (r.method === 'ALL' ? ['GET', 'POST', 'DELETE'].map((method) => ({ ...r, method })) : [r]))
    .filter((r) => !(r.path === '/*' || r.path === '*'));
  t.ok(routes.length > 20, `${routes.length} routes`);
  const missing = routes.filter((r) => routeRule(r.method, r.path.replace(/:\w+/g, 'x')) === undefined).map((r) => `${r.method} ${r.path}`);
  t.same(missing, [], 'routes registered without an entry in agent/identity/actions.ts ROUTE_TABLE');
});

t.test('authorization is by route, not by method', async (t) => {
  t.equal(requiredAction('GET', '/openai/load/phi-4'), 'models/write');
  t.equal(requiredAction('GET', '/openai/unloadall'), 'models/write');
  t.equal(requiredAction('GET', '/openai/setgpudevice/1'), 'system/write');
  t.equal(requiredAction('HEAD', '/v1/models'), 'models/read');
  t.equal(requiredAction('POST', '/v1/chat/completions'), 'chat/invoke');
  t.equal(requiredAction('GET', '/api/v1/namespaces/default/deployments'), 'deployments/read');
  t.equal(requiredAction('HEAD', '/api/v1/namespaces/default/deployments/d'), 'deployments/read');
  for (const m of ['POST', 'PUT', 'PATCH']) t.equal(requiredAction(m, '/api/v1/namespaces/default/deployments/d'), 'deployments/write');
  t.equal(requiredAction('DELETE', '/api/v1/namespaces/default/deployments/d'), 'deployments/delete');
  t.equal(requiredAction('GET', '/api/v1/namespaces/default/deployments/d/keys'), 'keys/read');
  t.equal(requiredAction('POST', '/api/v1/namespaces/default/deployments/d/keys/primary/rotate'), 'keys/write');
  t.equal(requiredAction('GET', '/api/v1/audit'), 'audit/read');
  t.equal(requiredAction('GET', '/v1/models/'), 'models/read', 'a trailing slash');
  t.equal(requiredAction('GET', '/v1/chat/completions'), null, 'a method the table does not name');
  t.equal(requiredAction('GET', '/healthz'), 'public');
  // Deployments' data planes: the action of the route within; their probes are public.
  t.equal(requiredAction('POST', '/deployments/d/v1/chat/completions'), 'chat/invoke');
  t.equal(requiredAction('POST', '/namespaces/team/deployments/d/v1/predict'), 'predict/invoke');
  t.equal(requiredAction('GET', '/deployments/d/v1/models'), 'models/read');
  t.equal(requiredAction('GET', '/deployments/d/health'), 'public');
  t.equal(requiredAction('HEAD', '/namespaces/team/deployments/d/ready'), 'public');
  t.equal(requiredAction('GET', '/deployments/d/openai/unloadall'), null, 'a management route within: admins only');
  t.equal(requiredAction('GET', '/deployments/d/'), null, 'nor is the console public there');
  t.equal(requiredAction('GET', '/deployments/d/deployments/e/health'), null);
});

t.test('roles and wildcard grants', async (t) => {
  t.ok(allows(ROLES.reader, 'models/read'));
  t.notOk(allows(ROLES.reader, 'keys/read'), 'readers do not read key secrets');
  t.notOk(allows(ROLES.reader, 'chat/invoke'));
  t.ok(allows(ROLES.invoker, 'audio/invoke'));
  t.ok(allows(ROLES.invoker, 'models/read'), 'an invoke-only principal still lists models');
  t.notOk(allows(ROLES.invoker, 'models/write'));
  t.ok(allows(ROLES.contributor, 'keys/write'));
  t.notOk(allows(ROLES.contributor, 'audit/read'));
  t.ok(allows(ROLES.admin, 'audit/read'));
  t.ok(allows(['chat/*'], 'chat/invoke'));
  t.notOk(allows(['chat/*'], 'predict/invoke'));
});

t.test('Bearer values are classified by shape', async (t) => {
  t.equal(classifyBearer('fndry-pk-0e7d0d3c-1111-2222-3333-444455556666'), 'key');
  t.equal(classifyBearer('fndry-sk-anything'), 'key');
  t.equal(classifyBearer('ab'.repeat(32)), 'key', '64 hex digits (a rotated key)');
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url');
  t.equal(classifyBearer(`${header}.e30.c2ln`), 'token');
  t.equal(classifyBearer(`${Buffer.from('{"typ":"JWT"}').toString('base64url')}.e30.c2ln`), 'key', 'no alg');
  t.equal(classifyBearer('a.b.c'), 'key', 'not JSON');
  t.equal(classifyBearer('sk-local-123'), 'key');
});

t.test('encoded and odd paths are judged as the router sees them', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { KeyStore } = await import('../../../agent/keys.js');
  const { AccessKeys } = await import('../../../agent/identity/access-keys.js');
  const { Identity, LOCAL_PRINCIPAL } = await import('../../../agent/identity/identity.js');
  const dir = mkdtempSync(join(tmpdir(), 'cru-id-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const accessKeys = new AccessKeys(join(dir, 'access-keys.json'));
  const { secret } = accessKeys.create({ preset: 'invoke', models: ['stories*'] }, LOCAL_PRINCIPAL);
  const identity = new Identity({ keys: new KeyStore(null, ['admin-key']), accessKeys });
  // The operations are never reached when the identity layer refuses; a 500 would mean it did not.
  const app = createHttpApp({} as CrucibleApi, { identity });
  const get = (path: string) => app.request(path, { headers: { authorization: `Bearer ${secret}` } });
  for (const path of ['/openai/%6Coad/stories260k', '/openai/load/stories260k', '/%6Fpenai/unloadall', '/v1/%6Dodels/pp-ocrv4', '/openai/unloadall/', '//openai/unloadall']) {
    const r = await get(path);
    t.ok(r.status === 403 || r.status === 404, `${path}: ${r.status}`);
  }
});

t.test('the audit file rotates by size and stays private', async (t) => {
  const { mkdtempSync, rmSync, statSync, existsSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { AuditLog } = await import('../../../agent/identity/audit.js');
  const dir = mkdtempSync(join(tmpdir(), 'cru-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = new AuditLog(join(dir, 'audit.log'), 1000);
  for (let i = 0; i < 20; i++) log.write({ requestId: `r${i}`, actor: { kind: 'key', id: 'admin:primary' }, action: 'models/write', resource: 'GET /openai/unloadall', outcome: 'allowed', status: 200 });
  t.ok(existsSync(join(dir, 'audit.log.1')), 'rotated');
  t.ok(statSync(join(dir, 'audit.log')).size <= 1000);
  t.equal(statSync(join(dir, 'audit.log')).mode & 0o777, 0o600);
  t.equal(log.read(1)[0].requestId, 'r19', 'newest first');
});
