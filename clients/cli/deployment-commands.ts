import type { Deployment, DeploymentList } from '../../protocol/control-plane.js';
import { apiKeyFor, defaultHome, readServiceInfo } from '../typescript/connect.js';

export interface DeploymentFlags {
  namespace?: string;
  model?: string;
  replicas?: string;
  compute?: string;
  workload?: string;
  auth?: boolean;
  env?: string[];
  json?: boolean;
}

/** One call to the running agent's control plane (`/api/v1`), with this user's agent key if any. */
async function control(home: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const info = readServiceInfo(home || defaultHome());
  const url = info.endpoints?.[0];
  if (!url) throw new Error('service.json names no HTTP endpoint');
  const key = apiKeyFor(info);
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** The control plane's error, with its field-level details, on stderr; exit status 1. */
function failed(r: { status: number; body: any }): number {
  const errors = r.body?.details?.errors as { field: string; message: string }[] | undefined;
  console.error(`crucible: ${r.body?.error ?? `HTTP ${r.status}`}: ${r.body?.message ?? ''}${errors ? errors.map((e) => `\n  ${e.field}: ${e.message}`).join('') : ''}`);
  return 1;
}

const envOf = (pairs: string[] | undefined) => pairs?.map((p) => {
  const i = p.indexOf('=');
  return i === -1 ? { name: p, value: '' } : { name: p.slice(0, i), value: p.slice(i + 1) };
});

const int = (v: string | undefined) => (v === undefined ? undefined : Number(v));

function row(d: Deployment): string {
  const s = d.status;
  const model = d.spec.model.catalog?.name ?? d.spec.model.ref ?? `${d.spec.model.custom?.registry}/${d.spec.model.custom?.repository}`;
  return `${d.namespace.padEnd(12)} ${d.name.padEnd(24)} ${String(s.state).padEnd(12)} ${`${s.readyReplicas ?? 0}/${d.spec.replicas}`.padEnd(6)} ${d.spec.authentication?.enabled ? 'keys' : 'open'}  ${model.padEnd(28)} ${s.internalEndpoint ?? '-'}`;
}

/**
 * `crucible deployment list|get|create|patch|delete|keys`: seed 003's deployments API on the
 * running agent. Names take `--namespace` (default `default`).
 */
export async function deploymentCommand(home: string, action: string | undefined, args: string[], f: DeploymentFlags): Promise<number> {
  const ns = f.namespace ?? 'default';
  const name = args[0];
  const base = `/namespaces/${encodeURIComponent(ns)}/deployments`;
  const print = (body: unknown) => console.log(JSON.stringify(body, null, 2));
  const needName = () => {
    console.error(`usage: crucible deployment ${action} <name> [--namespace NS]`);
    return 2;
  };
  switch (action) {
    case 'list': {
      const items: Deployment[] = [];
      let token: string | null = null;
      do {
        const q = `?limit=100${token ? `&continue=${encodeURIComponent(token)}` : ''}`;
        const r = await control(home, 'GET', f.namespace ? `${base}${q}` : `/deployments${q}`);
        if (r.status !== 200) return failed(r);
        const page = r.body as DeploymentList;
        items.push(...page.items);
        token = page.continueToken;
      } while (token);
      if (f.json) print(items);
      else if (items.length === 0) console.log('No deployments.');
      else {
        console.log(`${'NAMESPACE'.padEnd(12)} ${'NAME'.padEnd(24)} ${'STATE'.padEnd(12)} ${'READY'.padEnd(6)} AUTH  ${'MODEL'.padEnd(28)} ENDPOINT`);
        for (const d of items) console.log(row(d));
      }
      return 0;
    }
    case 'get': {
      if (!name) return needName();
      const r = await control(home, 'GET', `${base}/${encodeURIComponent(name)}`);
      if (r.status !== 200) return failed(r);
      print(r.body);
      return 0;
    }
    case 'create': {
      if (!name || !f.model) {
        console.error('usage: crucible deployment create <name> --model <catalog alias|custom model> [--replicas N] [--auth] [--compute cpu|gpu] [--workload generative|predictive] [--env K=V]... [--namespace NS]');
        return 2;
      }
      const r = await control(home, 'POST', base, {
        name,
        spec: {
          model: { catalog: { name: f.model } }, compute: f.compute ?? 'cpu',
          ...(f.workload ? { workloadType: f.workload } : {}), ...(f.replicas ? { replicas: int(f.replicas) } : {}),
          ...(f.env ? { env: envOf(f.env) } : {}), ...(f.auth ? { authentication: { enabled: true } } : {}),
        },
      });
      if (r.status !== 201) return failed(r);
      if (f.json) print(r.body);
      else console.log(`Created ${ns}/${name} (${r.body.status.state}); it serves at ${r.body.status.internalEndpoint}`);
      return 0;
    }
    case 'patch': {
      if (!name) return needName();
      const patch = { ...(f.replicas ? { replicas: int(f.replicas) } : {}), ...(f.env ? { env: envOf(f.env) } : {}) };
      const r = await control(home, 'PATCH', `${base}/${encodeURIComponent(name)}`, patch);
      if (r.status !== 200) return failed(r);
      if (f.json) print(r.body);
      else console.log(`Patched ${ns}/${name}: ${r.body.spec.replicas} replica(s), ${r.body.status.state}`);
      return 0;
    }
    case 'delete': {
      if (!name) return needName();
      const r = await control(home, 'DELETE', `${base}/${encodeURIComponent(name)}`);
      if (r.status !== 200) return failed(r);
      console.log(`Deleted ${ns}/${name}`);
      return 0;
    }
    case 'keys': {
      if (!name) return needName();
      const [, verb, which] = args;
      if (verb === 'rotate' && (which === 'primary' || which === 'secondary')) {
        const r = await control(home, 'POST', `${base}/${encodeURIComponent(name)}/keys/${which}/rotate`);
        if (r.status !== 200) return failed(r);
        print(r.body);
        return 0;
      }
      if (verb !== undefined) {
        console.error('usage: crucible deployment keys <name> [rotate primary|secondary] [--namespace NS]');
        return 2;
      }
      const r = await control(home, 'GET', `${base}/${encodeURIComponent(name)}/keys`);
      if (r.status !== 200) return failed(r);
      print(r.body);
      return 0;
    }
    default:
      console.error('usage: crucible deployment list|get|create|patch|delete|keys (see crucible --help)');
      return 2;
  }
}
