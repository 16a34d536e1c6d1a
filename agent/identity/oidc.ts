import { existsSync, readFileSync, statSync } from 'node:fs';
import {
  type JWTPayload, type JWTVerifyGetKey, createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify,
} from 'jose';
import { ROLES, isRole } from './actions.js';
import { TokenError } from './token-error.js';

/** RS, PS and ES only: never HS (a shared secret) nor `none`. */
export const TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];

export interface OidcOptions {
  issuer: string;
  audiences: string[];
  /** A JWKS file used instead of discovery (machines with no network). */
  jwksFile?: string;
  /** Seconds of clock skew accepted on exp / nbf / iat (60 by default). */
  clockToleranceSec?: number;
  /** Seconds before an unknown `kid` may trigger another key-set fetch (30 by default). */
  jwksCooldownSec?: number;
  /** Claim value -> built-in role, besides values that already are a role's name. */
  roleMap?: Record<string, string>;
  /** JSON file: `{"<oid, sub or group id>": ["reader", ...]}`, the offline stand-in for role assignments. */
  assignmentsFile?: string;
  /** Called when a changed assignments file is picked up (for the audit log). */
  onAssignmentsReload?: () => void;
}


export interface VerifiedToken {
  subject: string;
  roles: string[];
  expiresAt: string;
}

/** Parses `Value=role,Other=role` (--oidc-role-map). */
export function parseRoleMap(text: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const pair of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = pair.lastIndexOf('=');
    const [value, role] = [pair.slice(0, i).trim(), pair.slice(i + 1).trim()];
    if (i <= 0 || !isRole(role)) throw new Error(`--oidc-role-map: '${pair}' is not Value=role with role one of ${Object.keys(ROLES).join(', ')}`);
    map[value] = role;
  }
  return map;
}

/**
 * Validates OpenID Connect access and ID tokens with `jose`: signature against the issuer's key
 * set (discovered from `/.well-known/openid-configuration`, cached, refetched for a new `kid`
 * after the cool-down), issuer, audience, `exp` required, `nbf`, clock tolerance.
 */
export class OidcVerifier {
  private keys: JWTVerifyGetKey | null = null;
  private discovering: Promise<JWTVerifyGetKey> | null = null;
  private assignments: { mtime: number; map: Record<string, string[]> } = { mtime: -1, map: {} };

  constructor(private readonly opts: OidcOptions) {
    if (opts.jwksFile) this.keys = createLocalJWKSet(JSON.parse(readFileSync(opts.jwksFile, 'utf8')));
  }

  private keySet(): Promise<JWTVerifyGetKey> {
    if (this.keys) return Promise.resolve(this.keys);
    this.discovering ??= (async () => {
      const url = `${this.opts.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
      let doc: { jwks_uri?: unknown; issuer?: unknown };
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5000), headers: { accept: 'application/json' } });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        doc = await res.json() as typeof doc;
      } catch (err) {
        throw new TokenError('unavailable', `the identity provider's discovery document could not be read (${(err as Error).message})`);
      }
      if (typeof doc.jwks_uri !== 'string') throw new TokenError('unavailable', 'the discovery document has no jwks_uri');
      const strip = (u: unknown) => String(u).replace(/\/+$/, '');
      if (strip(doc.issuer) !== strip(this.opts.issuer)) {
        throw new TokenError('unavailable', `the discovery document names issuer '${String(doc.issuer)}', not '${this.opts.issuer}'`);
      }
      this.keys = createRemoteJWKSet(new URL(doc.jwks_uri), {
        cooldownDuration: (this.opts.jwksCooldownSec ?? 30) * 1000,
        timeoutDuration: 5000,
      });
      return this.keys;
    })().finally(() => { this.discovering = null; });
    return this.discovering;
  }

  async verify(token: string): Promise<VerifiedToken> {
    const keys = await this.keySet();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: this.opts.issuer,
        audience: this.opts.audiences.length > 0 ? this.opts.audiences : undefined,
        algorithms: TOKEN_ALGORITHMS,
        clockTolerance: this.opts.clockToleranceSec ?? 60,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || !(err instanceof errors.JOSEError) || err.constructor === errors.JOSEError) {
        throw new TokenError('unavailable', `the identity provider's key set could not be fetched (${(err as Error).message})`);
      }
      throw new TokenError('invalid', tokenReason(err));
    }
    // The subject owns what the caller stores (responses): a token naming nobody would share it
    // with every other such token.
    const subject = typeof payload.oid === 'string' && payload.oid ? payload.oid : typeof payload.sub === 'string' ? payload.sub : '';
    if (!subject) throw new TokenError('invalid', "the token names no subject ('oid' or 'sub')");
    return { subject, roles: this.rolesOf(payload), expiresAt: new Date((payload.exp as number) * 1000).toISOString() };
  }

  private rolesOf(p: JWTPayload): string[] {
    const values: string[] = [];
    if (Array.isArray(p.roles)) values.push(...p.roles.filter((r): r is string => typeof r === 'string'));
    if (typeof p.scp === 'string') values.push(...p.scp.split(' ').filter(Boolean));
    else if (Array.isArray(p.scp)) values.push(...p.scp.filter((r): r is string => typeof r === 'string'));
    const roles = new Set<string>();
    for (const v of values) {
      const mapped = this.opts.roleMap?.[v] ?? (isRole(v) ? v : undefined);
      if (mapped) roles.add(mapped);
    }
    const ids = [p.oid, p.sub, ...(Array.isArray(p.groups) ? p.groups : [])].filter((x): x is string => typeof x === 'string');
    const assigned = this.assigned();
    for (const id of ids) for (const r of assigned[id] ?? []) if (isRole(r)) roles.add(r);
    return [...roles];
  }

  /** The role-assignments file, re-read when it changes; a broken file keeps the last good one. */
  private assigned(): Record<string, string[]> {
    const file = this.opts.assignmentsFile;
    if (!file || !existsSync(file)) return {};
    try {
      const m = statSync(file).mtimeMs;
      if (m !== this.assignments.mtime) {
        const first = this.assignments.mtime === -1;
        this.assignments = { mtime: m, map: JSON.parse(readFileSync(file, 'utf8')) };
        if (!first) this.opts.onAssignmentsReload?.();
      }
    } catch { /* keep the last good assignments */ }
    return this.assignments.map;
  }
}

function tokenReason(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `the token's '${err.claim}' claim is not accepted (${err.reason})`;
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the token\'s signing algorithm is not accepted (RS, PS or ES only)';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no key of the issuer\'s key set matches the token';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the token\'s signature does not verify';
  return 'the token is malformed';
}
