import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface SentObject {
  method: string;
  path: string;
  body: any;
}

/**
 * A stand-in for a Kubernetes API server (no cluster can run here): it keeps the objects it is
 * sent by collection and answers create/read/replace/delete/list the way the real one does
 * (404 and 409 as Status objects, Secrets' stringData stored as base64 data, generation
 * bumped on replace, continue tokens on lists). It records every request body so a test can
 * validate each object against the Kubernetes schemas.
 */
export async function startKubeApi(dir: string) {
  const store = new Map<string, any>();
  const sent: SentObject[] = [];
  const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    if (body !== undefined) sent.push({ method: req.method!, path: url.pathname, body });
    const reply = (code: number, obj: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
    if (url.pathname === '/api/v1' || url.pathname === '/api/v1/') return reply(200, { kind: 'APIResourceList', groupVersion: 'v1', resources: [] });
    // /api/v1/namespaces/ns/secrets[/name], /apis/apps/v1/namespaces/ns/deployments[/name], /apis/apps/v1/deployments
    const m = /^\/(?:api\/v1|apis\/[^/]+\/v1)(?:\/namespaces\/([^/]+))?\/(\w+)(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return reply(404, status(404, 'NotFound', `no route ${url.pathname}`));
    const [, ns, collection, name] = m;
    const key = (n: string, s: string) => `${collection}/${n}/${s}`;
    if (!name && req.method === 'GET') {
      const all = [...store.entries()].filter(([k]) => k.startsWith(`${collection}/${ns ? `${ns}/` : ''}`)).map(([, v]) => v)
        .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
      const selector = url.searchParams.get('labelSelector');
      const matching = selector ? all.filter((o) => selector.split(',').every((p) => { const [k, v] = p.split('='); return o.metadata.labels?.[k] === v; })) : all;
      const start = Number(url.searchParams.get('continue') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? 500);
      const items = matching.slice(start, start + limit);
      return reply(200, { kind: 'List', apiVersion: 'v1', metadata: { continue: start + limit < matching.length ? String(start + limit) : undefined }, items });
    }
    if (!name && req.method === 'POST') {
      const n = body.metadata.name;
      if (store.has(key(ns, n))) return reply(409, status(409, 'AlreadyExists', `${collection} "${n}" already exists`));
      const obj = stored(body, ns, 1);
      store.set(key(ns, n), obj);
      return reply(201, obj);
    }
    const existing = store.get(key(ns, name));
    if (!existing) return reply(404, status(404, 'NotFound', `${collection} "${name}" not found`));
    if (req.method === 'GET') return reply(200, existing);
    if (req.method === 'PUT') {
      const obj = stored(body, ns, existing.metadata.generation + 1, existing);
      store.set(key(ns, name), obj);
      return reply(200, obj);
    }
    if (req.method === 'DELETE') {
      store.delete(key(ns, name));
      return reply(200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
    }
    return reply(405, status(405, 'MethodNotAllowed', req.method!));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
    clusters: [{ name: 'test', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'test', user: { token: 'test-token' } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
  }));
  return {
    url, kubeconfig, sent, store,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

function stored(body: any, ns: string, generation: number, old?: any): any {
  const obj = structuredClone(body);
  obj.metadata = { ...obj.metadata, namespace: ns, uid: old?.metadata.uid ?? randomUUID(), generation, creationTimestamp: old?.metadata.creationTimestamp ?? new Date().toISOString() };
  if (obj.kind === 'Secret' && obj.stringData) {
    obj.data = { ...obj.data, ...Object.fromEntries(Object.entries(obj.stringData).map(([k, v]) => [k, Buffer.from(String(v)).toString('base64')])) };
    delete obj.stringData;
  }
  if (obj.kind === 'Deployment') obj.status = old?.status ?? { replicas: 0, readyReplicas: 0 };
  return obj;
}
