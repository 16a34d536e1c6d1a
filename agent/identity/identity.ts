import type { DeploymentAccess } from '../../protocol/control-plane.js';
import { CrucibleError } from '../../protocol/errors.js';
import { type Action, ROLES, allows, deploymentOfPath, requiredAction } from './actions.js';
import { type AccessKeys, globMatches } from './access-keys.js';
import { classifyBearer } from './classify.js';
// Types only: `jose` loads when an issuer is configured, not in the single-user default.
import type { OidcVerifier } from './oidc.js';
import { TokenError } from './token-error.js';

/** Who is calling, whatever the credential: handlers read this, never credential headers. */
export interface Principal {
  kind: 'local' | 'key' | 'jwt';
  /** Never a secret: `local`, `admin:primary`, or the token's `oid` / `sub`. */
  id: string;
  /** Grants (actions, possibly with `*`). */
  actions: string[];
  /** Deployments the principal may use; `*` for all. */
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

export type Decision = { principal: Principal; action: Action | 'public' | null } | { refusal: Refusal };

export interface RequestLike {
  method: string;
  path: string;
  /** The client's address, for the failed-authentication limit. */
  address?: string;
  header(name: string): string | undefined;
}

/** The admin keys (seed 003's pair and --api-keys): which one matched, or null. */
export interface KeyChecker {
  readonly enabled: boolean;
  match(presented: string): string | null;
}

export interface IdentityOptions {
  keys: KeyChecker;
  oidc?: OidcVerifier;
  /** Scoped access keys (POST /api/v1/keys); consulted when authentication is on. */
  accessKeys?: AccessKeys;
  /** Failed authentications per client address per minute before 429 (0: no limit). */
  failureLimit?: number;
  /**
   * Deployments whose data planes this agent serves (`/deployments/{name}/...`): their own keys,
   * whether they have any, and the model they serve. Consulted for those paths only, with or
   * without authentication configured: a deployment with keys always needs one.
   */
  deployments?: { access(ns: string, name: string, key: string | undefined): Promise<DeploymentAccess> };
}

/** A deployment's own primary or secondary key: its data plane's invokes and model reads, nothing else. */
function deploymentKeyPrincipal(ns: string, name: string, which: 'primary' | 'secondary'): Principal {
  return { kind: 'key', id: `deployment:${ns}/${name}:${which}`, actions: ['*/invoke', 'models/read'], deployments: [`${ns}/${name}`], models: ['*'], expiresAt: null };
}

/**
 * Whether a principal may use a deployment: an entry `ns/name` (globs allowed, `team-a/*`), or a
 * bare `name` for the `default` namespace, or `*`.
 */
export function deploymentAllowed(principal: Principal, ns: string, name: string): boolean {
  return principal.deployments.some((d) => d === '*' || globMatches(d.includes('/') ? d : `default/${d}`, `${ns}/${name}`));
}

const REALM = 'Bearer realm="crucible"';
const quote = (s: string) => s.replace(/["\\]/g, '');

function forbid(principal: Principal, action: string | null, message: string, www: string): { refusal: Refusal } {
  return { refusal: { error: new CrucibleError('insufficient_permissions', message), wwwAuthenticate: www, reason: 'insufficient_permissions', principal, action } };
}

function refuse(code: ConstructorParameters<typeof CrucibleError>[0], message: string, www?: string): { refusal: Refusal } {
  return { refusal: { error: new CrucibleError(code, message), wwwAuthenticate: www, reason: code } };
}

/**
 * The identity layer: credentials -> principal -> decision for one (method, path). Foundry's
 * contract: public probes; 401 missing_credentials; 400 ambiguous_auth when two headers carry
 * different values; 401 invalid_api_key / invalid_token; 403 insufficient_permissions.
 */
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

const WINDOW_MS = 60_000;

export class Identity {
  /** Failed authentications per address in the current minute-long window. */
  private failures = new Map<string, { since: number; count: number }>();

  constructor(private readonly opts: IdentityOptions) {}

  /** Seconds until the address may try again, when it is over the failure limit. */
  private blocked(address: string | undefined): number | null {
    const limit = this.opts.failureLimit ?? 0;
    if (!limit || !address) return null;
    const f = this.failures.get(address);
    if (!f) return null;
    const left = f.since + WINDOW_MS - Date.now();
    if (left <= 0) { this.failures.delete(address); return null; }
    return f.count >= limit ? Math.ceil(left / 1000) : null;
  }

  private failed(address: string | undefined): void {
    if (!this.opts.failureLimit || !address) return;
    const now = Date.now();
    const f = this.failures.get(address);
    if (!f || now - f.since >= WINDOW_MS) this.failures.set(address, { since: now, count: 1 });
    else f.count++;
    if (this.failures.size > 10_000) for (const [a, v] of this.failures) if (now - v.since >= WINDOW_MS) this.failures.delete(a);
  }

  /** Whether any authentication is configured; when not, every caller is the local user. */
  get enabled(): boolean {
    return this.opts.keys.enabled || this.opts.oidc !== undefined;
  }

  async decide(req: RequestLike): Promise<Decision> {
    const action = requiredAction(req.method, req.path);
    const dep = this.opts.deployments && action !== 'public' ? deploymentOfPath(req.path) : null;
    if (!this.enabled && !dep) return { principal: LOCAL_PRINCIPAL, action };
    if (action === 'public') return { principal: { ...LOCAL_PRINCIPAL, kind: 'local', id: 'anonymous', actions: [] }, action };
    const wait = this.blocked(req.address);
    if (wait !== null) {
      const e = new CrucibleError('too_many_auth_failures', `too many failed authentications from this address; retry in ${wait} s`);
      e.retryAfter = wait;
      return { refusal: { error: e, reason: 'too_many_auth_failures', action } };
    }
    const who = dep ? await this.authenticateOnDeployment(req, dep) : await this.authenticate(req);
    if ('refusal' in who) {
      if (who.refusal.error.status === 401) this.failed(req.address);
      return { refusal: { ...who.refusal, action } };
    }
    const { principal } = who;
    const need = action ?? '*';
    if (!(need === '*' ? principal.actions.includes('*') : allows(principal.actions, need))) {
      return forbid(principal, action,
        action ? `this request needs the '${action}' action, which the caller is not granted` : 'this route is open only to admins',
        `Bearer realm="crucible", error="insufficient_scope", scope="${action ?? '*'}"`);
    }
    if (dep && principal.kind !== 'local') {
      if (!deploymentAllowed(principal, dep.ns, dep.name)) {
        return forbid(principal, action, `the caller may not use deployment '${dep.ns}/${dep.name}'`, 'Bearer realm="crucible", error="insufficient_scope"');
      }
      const access = (who as { access?: DeploymentAccess | null }).access;
      if (access && !principal.models.includes('*') && !access.models.some((m) => modelAllowed(principal, m))) {
        return { refusal: { ...modelRefusal(principal, access.models[0] ?? `of deployment ${dep.ns}/${dep.name}`), action } };
      }
    }
    return { principal, action };
  }

  /** The one credential a request presents, by Foundry's rules; or why there is none. */
  private credential(req: RequestLike): { value: string; kind: 'key' | 'token' } | { refusal: Refusal } {
    const auth = req.header('authorization')?.trim();
    let bearer: string | undefined;
    if (auth) {
      const m = /^bearer\s+(.+)$/i.exec(auth);
      if (!m) return refuse('missing_credentials', 'Authorization must use the Bearer scheme: Authorization: Bearer <key or token>', REALM);
      bearer = m[1].trim();
    }
    const apiKey = req.header('api-key')?.trim() || undefined;
    const xApiKey = req.header('x-api-key')?.trim() || undefined;
    const presented = [bearer, apiKey, xApiKey].filter((v): v is string => v !== undefined && v !== '');
    if (presented.length === 0) {
      return refuse('missing_credentials', 'credentials are required: send Authorization: Bearer <key or token>, api-key: <key> or X-API-KEY: <key>', REALM);
    }
    if (presented.some((v) => v !== presented[0])) {
      return refuse('ambiguous_auth', 'credentials were sent in more than one header with different values; send one');
    }
    return { value: presented[0], kind: bearer !== undefined ? classifyBearer(presented[0]) : 'key' };
  }

  /**
   * A deployment's data plane: its own primary and secondary keys (valid there only), else what
   * the agent accepts anywhere (admin keys, scoped keys, tokens), the latter checked against the
   * deployment by `decide`. With no authentication configured, a deployment with keys takes only
   * them, and one without is open to the local user.
   */
  private async authenticateOnDeployment(req: RequestLike, dep: { ns: string; name: string }):
    Promise<({ principal: Principal } | { refusal: Refusal }) & { access?: DeploymentAccess | null }> {
    const cred = this.credential(req);
    if ('refusal' in cred && cred.refusal.reason === 'ambiguous_auth') return cred;
    let access: DeploymentAccess | null;
    try {
      access = await this.opts.deployments!.access(dep.ns, dep.name, 'value' in cred && cred.kind === 'key' ? cred.value : undefined);
    } catch (err) {
      if (!(err instanceof CrucibleError && err.status === 404)) throw err;
      access = null; // no such deployment here: its handler answers 404 to whoever may ask
    }
    if (access?.matchedKey) return { principal: deploymentKeyPrincipal(dep.ns, dep.name, access.matchedKey), access };
    if (!this.enabled) {
      if (!access?.authentication) return { principal: LOCAL_PRINCIPAL, access };
      if ('refusal' in cred) return cred;
      return refuse('invalid_api_key', `deployment '${dep.name}' takes its own keys: send one with Authorization: Bearer <key>, api-key or X-API-KEY`,
        `${REALM}, error="invalid_token", error_description="invalid API key"`);
    }
    return { ...(await this.authenticate(req)), access };
  }

  async authenticate(req: RequestLike): Promise<{ principal: Principal } | { refusal: Refusal }> {
    const cred = this.credential(req);
    if ('refusal' in cred) return cred;
    const { value, kind } = cred;
    if (kind === 'key') {
      const id = this.opts.keys.enabled ? this.opts.keys.match(value) : null;
      const scoped = id === null ? this.opts.accessKeys?.match(value) ?? null : null;
      if (scoped) {
        if (scoped.expiresAt !== null && Date.parse(scoped.expiresAt) <= Date.now()) {
          return refuse('expired_api_key', `the API key expired at ${scoped.expiresAt}`, `${REALM}, error="invalid_token", error_description="expired API key"`);
        }
        return { principal: { kind: 'key', id: `key:${scoped.id}`, actions: scoped.actions, deployments: scoped.deployments, models: scoped.models, expiresAt: scoped.expiresAt } };
      }
      if (id === null) return refuse('invalid_api_key', 'the API key is not valid', `${REALM}, error="invalid_token", error_description="invalid API key"`);
      return { principal: { kind: 'key', id: `admin:${id}`, actions: [...ROLES.admin], deployments: ['*'], models: ['*'], expiresAt: null } };
    }
    if (!this.opts.oidc) {
      return refuse('invalid_token', 'tokens are not accepted here: no OpenID Connect issuer is configured (--oidc-issuer)',
        `${REALM}, error="invalid_token", error_description="no issuer configured"`);
    }
    try {
      const t = await this.opts.oidc.verify(value);
      const actions = [...new Set(t.roles.flatMap((r) => ROLES[r] ?? []))];
      return { principal: { kind: 'jwt', id: t.subject, actions, deployments: ['*'], models: ['*'], expiresAt: t.expiresAt } };
    } catch (err) {
      if (err instanceof TokenError && err.reason === 'invalid') {
        return refuse('invalid_token', err.message, `${REALM}, error="invalid_token", error_description="${quote(err.message)}"`);
      }
      const e = new CrucibleError('identity_provider_unavailable', `the identity provider cannot be reached and no cached key verifies the token: ${(err as Error).message}`);
      e.retryAfter = 30;
      return { refusal: { error: e, reason: 'identity_provider_unavailable' } };
    }
  }
}
