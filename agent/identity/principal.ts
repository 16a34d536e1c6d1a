import { CrucibleError } from '../../protocol/errors.js';
import { globMatches } from './access-keys.js';

/** Who is calling, whatever the credential: handlers read this, never credential headers. */
export interface Principal {
  kind: 'local' | 'key' | 'jwt';
  /** Never a secret: `local`, `admin:primary`, or the token's `oid` / `sub`. */
  id: string;
  /** Grants (actions, possibly with `*`). */
  actions: string[];
  /**
   * Deployments the principal may use (`ns/name` or `name` in `default`, globs), `*` for all. A
   * principal limited to some may use only their data planes and control-plane routes (and
   * `/api/v1/keys`), not the agent's own surfaces.
   */
  deployments: string[];
  /** Model id globs the principal may use; `*` for all. */
  models: string[];
  expiresAt: string | null;
}

/**
 * Who owns what a principal stores (responses): `local` for the local user, `admin` for the
 * agent's admin keys (primary and secondary are one identity, so a rotation keeps access), a
 * scoped key by its id, a deployment by its name, a token by its `oid` / `sub`. Never a secret.
 */
export function ownerOf(p: Principal | undefined): string {
  if (!p || p.kind === 'local') return 'local';
  if (p.kind === 'jwt') return `jwt:${p.id}`;
  if (p.id.startsWith('admin:')) return 'admin';
  if (p.id.startsWith('deployment:')) return p.id.replace(/:(primary|secondary)$/, '');
  return p.id;
}

/** The single-user default (nothing configured on loopback) and pipe clients: the local user. */
export const LOCAL_PRINCIPAL: Principal = { kind: 'local', id: 'local', actions: ['*'], deployments: ['*'], models: ['*'], expiresAt: null };

/** A refusal: the error, its WWW-Authenticate value (RFC 6750) and the reason for metrics. */
export interface Refusal {
  error: CrucibleError;
  wwwAuthenticate?: string;
  reason: string;
  /** Who was refused, when authentication succeeded (403). */
  principal?: Principal;
  action?: string | null;
}


/** A 403 `insufficient_permissions` for a principal, with its WWW-Authenticate value. */
export function forbid(principal: Principal, action: string | null, message: string, www: string): { refusal: Refusal } {
  return { refusal: { error: new CrucibleError('insufficient_permissions', message), wwwAuthenticate: www, reason: 'insufficient_permissions', principal, action } };
}


/**
 * Whether a principal may use a deployment: an entry `ns/name` (globs allowed, `team-a/*`), or a
 * bare `name` for the `default` namespace, or `*`.
 */
export function deploymentAllowed(principal: Principal, ns: string, name: string): boolean {
  return principal.deployments.some((d) => d === '*' || globMatches(d.includes('/') ? d : `default/${d}`, `${ns}/${name}`));
}


/** Whether a principal may use a model (by the name the request gives). */
export function modelAllowed(principal: Principal, model: string): boolean {
  return principal.models.some((g) => g === '*' || globMatches(g, model));
}

/** A 403 for a model outside the principal's globs. */
export function modelRefusal(principal: Principal, model: string): Refusal {
  return forbid(principal, null, `the caller may not use model '${model}'`, 'Bearer realm="crucible", error="insufficient_scope"').refusal;
}

/** The model a route names in its path (load, unload, describe, delete), if any. */
export function modelOfPath(path: string): string | undefined {
  const m = /^\/(?:openai\/load|openai\/unload|v1\/models|openai\/models)\/([^/]+)\/?$/.exec(path);
  return m ? decodeURIComponent(m[1]) : undefined;
}

/** Routes whose JSON body names the model used. */
export const MODEL_BODY_ROUTES = new Set(['/v1/chat/completions', '/v1/completions', '/v1/chat/completions/tokenizer/encode/count', '/v1/predict', '/openai/download', '/v1/responses', '/v1/embeddings']);

/** A model listing (`{data: [...]}` or an array) cut to what the principal may use. */
export function filterModelList(principal: Principal, body: unknown): unknown {
  const keep = (m: unknown) => {
    const o = m as { id?: unknown; name?: unknown; alias?: unknown };
    return [o?.id, o?.name, o?.alias].some((n) => typeof n === 'string' && modelAllowed(principal, n));
  };
  if (Array.isArray(body)) return body.filter(keep);
  if (body && typeof body === 'object' && Array.isArray((body as { data?: unknown }).data)) {
    return { ...body, data: (body as { data: unknown[] }).data.filter(keep) };
  }
  return body;
}

