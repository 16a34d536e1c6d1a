import type {
  Deployment, DeploymentKeys, DeploymentList, DeploymentListQuery, DeploymentPatch, DeploymentRequest, DeploymentSpec, DeploymentAccess, DeploymentTarget, Readyz, RotatedKey,
} from '../../protocol/control-plane.js';
import { CrucibleError } from '../../protocol/errors.js';

/**
 * Where deployments run: `local` (worker replicas of this agent, the default) or `kubernetes`
 * (a Deployment, Service and Secret per deployment in a cluster). The control plane calls one.
 */
export interface DeploymentBackend {
  readonly kind: 'local' | 'kubernetes';
  readyz(): Promise<Readyz>;
  list(ns: string | null, q: DeploymentListQuery): Promise<DeploymentList>;
  get(ns: string, name: string): Promise<Deployment>;
  create(ns: string, body: DeploymentRequest): Promise<Deployment>;
  replace(ns: string, name: string, body: DeploymentRequest): Promise<Deployment>;
  patch(ns: string, name: string, patch: DeploymentPatch): Promise<Deployment>;
  delete(ns: string, name: string): Promise<void>;
  getKeys(ns: string, name: string): Promise<DeploymentKeys>;
  rotateKey(ns: string, name: string, keyType: 'primary' | 'secondary'): Promise<RotatedKey>;
  access(ns: string, name: string, key: string | undefined): Promise<DeploymentAccess>;
  target(ns: string, name: string): Promise<DeploymentTarget>;
  close(): Promise<void>;
}

export const notFound = (ns: string, name: string) =>
  new CrucibleError('not_found', `deployment '${name}' does not exist in namespace '${ns}'`, 'name');

export const authDisabled = (ns: string, name: string) =>
  new CrucibleError('authentication_disabled', `deployment '${name}' in namespace '${ns}' has authentication disabled; it has no API keys`, 'name');

/** PATCH merges onto a spec: replicas and env replace, resources and endpoint merge one level down. */
export function applyPatch(spec: DeploymentSpec, patch: DeploymentPatch): DeploymentSpec {
  const next: DeploymentSpec = { ...spec };
  if (patch.replicas !== undefined) next.replicas = patch.replicas;
  if (patch.env !== undefined) next.env = patch.env;
  if (patch.resources !== undefined) {
    next.resources = {
      ...spec.resources,
      ...(patch.resources.requests ? { requests: { ...spec.resources?.requests, ...patch.resources.requests } } : {}),
      ...(patch.resources.limits ? { limits: { ...spec.resources?.limits, ...patch.resources.limits } } : {}),
    };
  }
  if (patch.endpoint !== undefined) next.endpoint = { ...spec.endpoint, ...patch.endpoint };
  if (next.compute === 'gpu' && !next.skipGpuResource && next.resources?.limits?.gpu === undefined) {
    throw new CrucibleError('invalid_request', 'required (1-8) when compute is gpu and skipGpuResource is not set', 'resources.limits.gpu');
  }
  return next;
}

/** Cursor pagination over names sorted by namespace then name: the token is the last one returned. */
export function page<T extends { namespace: string; name: string }>(all: T[], q: DeploymentListQuery): { items: T[]; continueToken: string | null } {
  const key = (d: { namespace: string; name: string }) => `${d.namespace}/${d.name}`;
  const sorted = [...all].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  let after: string | null = null;
  if (q.continue !== undefined) {
    try {
      const decoded = JSON.parse(Buffer.from(q.continue, 'base64url').toString('utf8'));
      if (typeof decoded?.after !== 'string') throw new Error('no position');
      after = decoded.after;
    } catch {
      throw new CrucibleError('invalid_request', 'the continue token is not one this service issued', 'continue');
    }
  }
  const rest = after === null ? sorted : sorted.filter((d) => key(d) > after!);
  const limit = q.limit ?? 100;
  const items = rest.slice(0, limit);
  const more = rest.length > limit;
  return { items, continueToken: more ? Buffer.from(JSON.stringify({ after: key(items[items.length - 1]) })).toString('base64url') : null };
}
