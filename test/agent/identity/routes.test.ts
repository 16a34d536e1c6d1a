import t from 'tap';
import { ROLES, allows, requiredAction } from '../../../agent/identity/actions.js';
import { classifyBearer } from '../../../agent/identity/classify.js';
import type { CrucibleApi } from '../../../protocol/operations.js';
import { createHttpApp } from '../../../transports/http/app.js';

t.test('every registered route has an entry in the action table', async (t) => {
  // Only the route list is read: no handler runs, so the operations are never called.
  const app = createHttpApp({} as CrucibleApi, { ui: true, audit: () => [], metrics: async () => ({ contentType: 'text/plain', body: '' }), liveMetrics: async () => ({}) as never });
  const routes = app.routes.filter((r) => r.method !== 'ALL');
  t.ok(routes.length > 20, `${routes.length} routes`);
  const missing = routes.filter((r) => requiredAction(r.method, r.path.replace(/:\w+/g, 'x')) === null).map((r) => `${r.method} ${r.path}`);
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
