import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import t from 'tap';
import { freshKeyPair } from '../../../agent/keys.js';
import { objectsFor } from '../../../agent/deployments/k8s-objects.js';
import { DeploymentSpecSchema } from '../../../protocol/control-plane.js';
import { startKubeApi } from '../../helpers/kube-api.js';
import { REPO, startTestService, tempHome } from '../../helpers/service.js';

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment, 'v1/Service': Service, 'v1/Secret': Secret, 'v1/Namespace': Namespace, 'networking.k8s.io/v1/Ingress': Ingress,
};

/** Validates one object against its Kubernetes schema (kubernetes-models); throws naming the field. */
function validate(obj: any): void {
  // kustomize wraps a Secret's base64 over lines; the API server's decoder skips the newlines, the schema's "byte" format does not.
  if (obj.kind === 'Secret' && obj.data) obj = { ...obj, data: Object.fromEntries(Object.entries(obj.data).map(([k, v]) => [k, String(v).replace(/\s+/g, '')])) };
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) throw new Error(`no schema here for ${obj.apiVersion} ${obj.kind}`);
  new Model(obj).validate();
}

t.test('the schemas catch what they should (the validation can fail)', async (t) => {
  t.throws(() => validate({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'c', ports: [{ containerPort: 'http' }] }] } } } }), /containerPort/);
  t.throws(() => validate({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { ports: [{ port: 'eighty' }] } }), /port/);
});

t.test('every object the kubernetes backend builds validates against the Kubernetes schemas', async (t) => {
  const specs = [
    { model: { catalog: { name: 'phi-4-mini', version: 'latest' } }, compute: 'cpu', replicas: 2, authentication: { enabled: true }, resources: { requests: { cpu: '2000m', memory: '4Gi' }, limits: { cpu: '4000m', memory: '8Gi' } } },
    { model: { custom: { registry: 'myacr.azurecr.io', repository: 'models/my-model', tag: 'v1.0', credentials: { secretRef: { name: 'pull' } } } }, compute: 'gpu', replicas: 3, port: 8000, workloadType: 'predictive', authentication: { enabled: true }, resources: { limits: { gpu: 2 } }, nodeSelector: { pool: 'gpu' }, tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] },
    { model: { ref: 'stories260k' }, compute: 'cpu', authentication: { enabled: true }, env: [{ name: 'CRUCIBLE_LOG_LEVEL', value: 'debug' }], endpoint: { host: 'stories.example.com', path: '/stories', tls: { enabled: true, secretName: 'tls' } } },
    { model: { ref: 'stories260k' }, compute: 'gpu', skipGpuResource: true, authentication: { enabled: true } },
  ];
  for (const raw of specs) {
    const spec = DeploymentSpecSchema.parse(raw);
    const model = spec.model.catalog ? { kind: 'catalog' as const, name: spec.model.catalog.name }
      : spec.model.custom ? { kind: 'image' as const, name: 'my-model', image: 'myacr.azurecr.io/models/my-model:v1.0', pullSecret: 'pull' } : { kind: 'cached' as const, name: 'stories260k' };
    const objs = objectsFor('team-a', 'demo', spec, freshKeyPair(), { image: 'crucible:1', model });
    for (const obj of [objs.deployment, objs.service, objs.secret, objs.ingress].filter(Boolean)) {
      t.doesNotThrow(() => validate(obj), `${obj!.kind} for ${JSON.stringify(raw.model)} validates`);
    }
    const pod = objs.deployment.spec!.template.spec!;
    const c = pod.containers[0];
    t.equal(objs.deployment.spec!.replicas, spec.replicas);
    t.equal(c.readinessProbe!.httpGet!.path, '/ready');
    t.equal(c.livenessProbe!.httpGet!.path, '/health');
    t.same(c.ports![0].containerPort, spec.port);
    t.ok(c.args!.includes('--api-keys-file'), 'keys from the Secret');
    t.equal(pod.volumes!.find((v) => v.name === 'keys')!.secret!.secretName, objs.secret.metadata!.name);
    t.same(objs.service.spec!.selector, objs.deployment.spec!.template.metadata!.labels, 'the Service selects the pods');
    if (spec.compute === 'gpu' && !spec.skipGpuResource) t.equal(c.resources!.limits!['nvidia.com/gpu'], String(spec.resources!.limits!.gpu));
    if (spec.skipGpuResource) t.notOk(c.resources?.limits?.['nvidia.com/gpu']);
    t.equal(Boolean(objs.ingress), Boolean(spec.endpoint?.host));
  }
});

t.test('the Kustomize manifests render and validate against the Kubernetes schemas', async (t) => {
  const dir = tempHome('cru-kustomize-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(REPO, 'deploy', 'kubernetes'), dir, { recursive: true });
  writeFileSync(join(dir, 'overlays', 'example', 'keys.json'), JSON.stringify(freshKeyPair()));
  let kubectl = true;
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
  } catch {
    kubectl = false;
  }
  const render = (path: string): any[] => kubectl
    ? loadAllYaml(execFileSync('kubectl', ['kustomize', path], { encoding: 'utf8' }))
    // Without kubectl: the base's resource files as they are.
    : readdirSync(path).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').flatMap((f) => loadAllYaml(readFileSync(join(path, f), 'utf8')));
  t.comment(kubectl ? 'rendered with kubectl kustomize' : 'kubectl not found: validating the base files unrendered');
  const base = render(join(dir, 'base'));
  t.same(base.map((o) => o.kind).sort(), ['Deployment', 'Service']);
  for (const obj of base) t.doesNotThrow(() => validate(obj), `base ${obj.kind} validates`);
  const dep = base.find((o) => o.kind === 'Deployment');
  const c = dep.spec.template.spec.containers[0];
  t.equal(c.readinessProbe.httpGet.path, '/ready');
  t.equal(c.livenessProbe.httpGet.path, '/health');
  t.ok(c.args.includes('--open-ready'), 'the readiness probe needs no key');
  t.equal(dep.spec.template.spec.volumes.find((v: any) => v.name === 'keys').secret.secretName, 'crucible-api-keys');
  const svc = base.find((o) => o.kind === 'Service');
  for (const [k, v] of Object.entries(svc.spec.selector)) t.equal(dep.spec.template.metadata.labels[k], v, `the Service selects ${k}`);
  if (kubectl) {
    const overlay = render(join(dir, 'overlays', 'example'));
    for (const obj of overlay) t.doesNotThrow(() => validate(obj), `overlay ${obj.kind} validates`);
    t.same(overlay.map((o) => o.kind).sort(), ['Deployment', 'Namespace', 'Secret', 'Service']);
    t.equal(overlay.find((o) => o.kind === 'Deployment').spec.replicas, 3);
    t.ok(overlay.every((o) => o.kind === 'Namespace' || o.metadata.namespace === 'crucible'));
    t.equal(overlay.find((o) => o.kind === 'Secret').metadata.name, 'crucible-api-keys');
  }
  // The agent itself accepts the flags the manifests give it.
  const { loadConfig } = await import('../../../agent/config.js');
  const cfg = loadConfig(c.args, {});
  t.match(cfg, { host: '0.0.0.0', port: 5000, apiKeysFile: '/etc/crucible/keys/keys.json', openReady: '1' });
});

t.test('the kubernetes backend: the deployments API drives Kubernetes objects, each of which validates', async (t) => {
  const dir = tempHome('cru-kube-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kube = await startKubeApi(dir);
  t.teardown(kube.close);
  const svc = await startTestService(t, ['--kubeconfig', kube.kubeconfig, '--image', 'registry.example.com/crucible:1.0']);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(svc.url + path, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: await res.json() as any };
  };
  const NS = '/api/v1/namespaces/team-a/deployments';
  t.match((await call('GET', '/readyz')).body, { status: 'ready', kubernetes: 'connected', backend: 'kubernetes' });

  const created = await call('POST', NS, { name: 'phi', spec: { model: { catalog: { name: 'phi-4-mini' } }, compute: 'cpu', replicas: 2, authentication: { enabled: true }, endpoint: { host: 'phi.example.com' } } });
  t.equal(created.status, 201);
  t.match(created.body.status, { state: 'Creating', readyReplicas: 0, internalEndpoint: 'http://phi.team-a.svc.cluster.local:5000', externalEndpoint: 'http://phi.example.com', resolvedModel: { name: 'phi-4-mini', image: 'registry.example.com/crucible:1.0' }, authentication: { keysSecretName: 'phi-api-keys' } });
  t.same([...kube.store.keys()].sort(), ['deployments/team-a/phi', 'ingresses/team-a/phi', 'secrets/team-a/phi-api-keys', 'services/team-a/phi']);

  // The cluster reports the pods ready.
  kube.store.get('deployments/team-a/phi').status = { replicas: 2, readyReplicas: 2, updatedReplicas: 2, conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }] };
  t.match((await call('GET', `${NS}/phi`)).body.status, { state: 'Running', readyReplicas: 2, deploymentReady: true });

  const keys = (await call('GET', `${NS}/phi/keys`)).body;
  t.match(keys.primaryKey.value, /^fndry-pk-/);
  const rotated = (await call('POST', `${NS}/phi/keys/secondary/rotate`)).body;
  t.match(rotated.key.value, /^[0-9a-f]{64}$/);
  const secret = kube.store.get('secrets/team-a/phi-api-keys');
  const inSecret = JSON.parse(Buffer.from(secret.data['keys.json'], 'base64').toString());
  t.equal(inSecret.secondaryKey.value, rotated.key.value, 'the Secret holds the rotated key');
  t.equal(inSecret.primaryKey.value, keys.primaryKey.value, 'and the other one unchanged');

  const patched = await call('PATCH', `${NS}/phi`, { replicas: 4, resources: { limits: { cpu: '4', memory: '8Gi' } } });
  t.equal(patched.status, 200);
  const dep = kube.store.get('deployments/team-a/phi');
  t.equal(dep.spec.replicas, 4, 'the Deployment was scaled');
  t.same(dep.spec.template.spec.containers[0].resources.limits, { cpu: '4', memory: '8Gi' });
  t.equal(patched.body.status.state, 'Updating');
  t.equal((await call('PUT', `${NS}/phi`, { name: 'phi', spec: { model: { catalog: { name: 'phi-4-mini' } }, compute: 'cpu', authentication: { enabled: true } } })).status, 200);
  t.notOk(kube.store.has('ingresses/team-a/phi'), 'the Ingress goes with spec.endpoint');

  t.equal((await call('POST', NS, { name: 'phi', spec: { model: { ref: 'x' }, compute: 'cpu', authentication: { enabled: true } } })).body.error, 'Conflict');
  t.equal((await call('POST', NS, { name: 'open', spec: { model: { ref: 'x' }, compute: 'cpu' } })).body.details.errors[0].field, 'spec.authentication.enabled');
  t.equal((await call('POST', NS, { name: 'byo', spec: { model: { custom: { registry: 'myacr.azurecr.io', repository: 'models/m', tag: 'v1', credentials: { secretRef: { name: 'pull' } } } }, compute: 'gpu', resources: { limits: { gpu: 1 } }, authentication: { enabled: true } } })).status, 201);
  const byo = kube.store.get('deployments/team-a/byo').spec.template.spec;
  t.equal(byo.initContainers[0].image, 'myacr.azurecr.io/models/m:v1', 'the model image is copied in by an init container');
  t.same(byo.imagePullSecrets, [{ name: 'pull' }]);
  const list = (await call('GET', '/api/v1/deployments?limit=1')).body;
  t.equal(list.count, 1);
  t.type(list.continueToken, 'string');
  const next = (await call('GET', `/api/v1/deployments?limit=1&continue=${list.continueToken}`)).body;
  t.equal(next.continueToken, null);
  t.same([list.items[0].name, next.items[0].name].sort(), ['byo', 'phi']);
  t.equal((await call('GET', `${NS}/missing`)).body.error, 'NotFound');

  t.equal((await call('DELETE', `${NS}/phi`)).status, 200);
  t.same([...kube.store.keys()].filter((k) => k.includes('/phi')), [], 'its Deployment, Service and Secret are gone');

  // Every object the backend sent validates.
  const bodies = kube.sent.filter((s) => s.method === 'POST' || s.method === 'PUT');
  t.ok(bodies.length >= 10, `${bodies.length} objects sent`);
  for (const s of bodies) t.doesNotThrow(() => validate(s.body), `${s.method} ${s.path} validates`);

  await kube.close();
  const down = await call('GET', '/readyz');
  t.equal(down.status, 503, 'readyz fails when the API server is gone');
  t.match(down.body, { status: 'not ready', kubernetes: 'disconnected' });
});
