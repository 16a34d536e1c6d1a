import type { Context, Hono } from 'hono';
import type { AccessKeys, CreateKeyRequest } from '../../agent/identity/access-keys.js';
import { LOCAL_PRINCIPAL } from '../../agent/identity/identity.js';
import { principalOf } from './middleware.js';

export interface IdentityRouteOptions {
  /** The newest audit records for GET /api/v1/audit (behind audit/read). */
  audit?: (limit: number) => unknown[];
  /** Scoped access keys for /api/v1/keys (behind keys/read and keys/write). */
  accessKeys?: AccessKeys;
}

/** The control plane's envelope (seed 003). */
const fail = (c: Context, status: 400 | 404, error: string, message: string) => c.json({ error, message, details: {} }, status);

/** `/api/v1/audit` and `/api/v1/keys`: the identity layer has already decided who may call them. */
export function identityRoutes(app: Hono, opts: IdentityRouteOptions, readJson: (c: Context) => Promise<unknown>): void {
  const { audit, accessKeys } = opts;
  if (audit) {
    app.get('/api/v1/audit', (c) => c.json({ value: audit(Math.min(Math.max(Number(c.req.query('limit') ?? 100) || 100, 1), 1000)) }));
  }
  if (!accessKeys) return;
  app.get('/api/v1/keys', (c) => c.json({ value: accessKeys.list() }));
  app.post('/api/v1/keys', async (c) => {
    const body = await readJson(c) as CreateKeyRequest;
    const creator = principalOf(c) ?? LOCAL_PRINCIPAL;
    try {
      const { secret, record } = accessKeys.create(body && typeof body === 'object' ? body : {}, creator);
      return c.json({ ...record, key: secret }, 201);
    } catch (err) {
      return fail(c, 400, 'ValidationError', (err as Error).message);
    }
  });
  app.delete('/api/v1/keys/:id', (c) => (accessKeys.revoke(c.req.param('id'))
    ? c.body(null, 204) : fail(c, 404, 'NotFound', `no access key '${c.req.param('id')}'`)));
}
