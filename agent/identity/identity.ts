import type { DeploymentAccess } from '../../protocol/control-plane.js';
import { CrucibleError } from '../../protocol/errors.js';
import { type Action, ROLES, allows, deploymentOfPath, requiredAction } from './actions.js';
import type { AccessKeys } from './access-keys.js';
import { classifyBearer } from './classify.js';
// Types only: `jose` loads when an issuer is configured, not in the single-user default.
import type { OidcVerifier } from './oidc.js';
import { TokenError } from './token-error.js';
import { type Principal, type Refusal, LOCAL_PRINCIPAL, deploymentAllowed, forbid, modelAllowed, modelRefusal } from './principal.js';

// The principal and its scopes live in principal.ts; importers of the identity layer get them here too.
export * from './principal.js';

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


const REALM = 'Bearer realm="crucible"';
const quote = (s: string) => s.replace(/["\\]/g, '');

function refuse(code: ConstructorParameters<typeof CrucibleError>[0], message: string, www?: string): { refusal: Refusal } {
  return { refusal: { error: new CrucibleError(code, message), wwwAuthenticate: www, reason: code } };
}


/**
 * The identity layer: credentials -> principal -> decision for one (method, path). Foundry's
 * contract: public probes; 401 missing_credentials; 400 ambiguous_auth when two headers carry
 * different values; 401 invalid_api_key / invalid_token; 403 insufficient_permissions.
 */
const safeDecode = (s: string) => { try { return decodeURIComponent(s); } catch { return s; } };

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
    if (!dep && !principal.deployments.includes('*')) {
      // A key limited to some deployments is for those: their control-plane routes, and keys.
      const named = /^\/api\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)(\/|$)/.exec(req.path);
      const ok = named ? deploymentAllowed(principal, safeDecode(named[1]), safeDecode(named[2])) : /^\/api\/v1\/keys(\/|$)/.test(req.path);
      if (!ok) {
        return forbid(principal, action, `the caller is limited to deployments ${principal.deployments.join(', ')}`, 'Bearer realm="crucible", error="insufficient_scope"');
      }
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
