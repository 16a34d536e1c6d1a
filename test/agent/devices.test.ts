import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DeviceProbe } from '../../agent/devices.js';
import { pickVariant } from '../../agent/resolve.js';
import { deviceLines } from '../../clients/cli/service-commands.js';
import type { DeviceReport } from '../../protocol/models.js';
import { crucible } from '../helpers/run.js';
import { REPO, STORIES, startTestService, tempHome } from '../helpers/service.js';
import { startVariantCatalog } from '../helpers/variant-catalog.js';

// WebGPU on chromium's SwiftShader (a Vulkan on the CPU), for this test process and its agents only.
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
process.env.VK_ICD_FILENAMES ??= SWIFTSHADER;
const onSwiftShader = process.env.VK_ICD_FILENAMES === SWIFTSHADER && existsSync(SWIFTSHADER);
const PROBE_MODEL = join(STORIES, 'onnx', 'model.onnx');

t.setTimeout(240_000);

t.test('the probe finds WebGPU running on SwiftShader and reports it as a software adapter', { skip: !onSwiftShader && 'no SwiftShader here' }, async (t) => {
  const report = await new DeviceProbe(PROBE_MODEL).report();
  t.ok(report.providers.includes('webgpu'), 'a WebGPU session starts');
  t.match(report.webgpu?.adapter, { name: /SwiftShader/, vendor: 'google', architecture: 'swiftshader', backend: 'vulkan', software: true });
  t.same(report.automatic, ['cpu'], 'a software adapter is never chosen automatically');
});

t.test('a hardware adapter makes WebGPU the automatic choice, in Foundry\'s order', { skip: !onSwiftShader && 'no SwiftShader here' }, async (t) => {
  // The adapter answer is this machine's own but marked hardware, as a real GPU's would be;
  // the sessions are real.
  const probe = new DeviceProbe(PROBE_MODEL, {
    webgpuAdapter: async () => ({ adapter: { name: 'Some GPU', vendor: 'nvidia', architecture: 'ampere', description: '', backend: 'vulkan', software: false }, adapters: [], note: null }),
  });
  const automatic = await probe.automatic();
  t.same(automatic, ['webgpu', 'cpu']);
  const v = (id: string, provider: string, deviceType: string) => ({ id, alias: 'm', provider, deviceType, cached: false });
  const variants = [v('m-generic-cpu:1', 'cpu', 'CPU'), v('m-generic-gpu:1', 'webgpu', 'GPU'), v('m-cuda-gpu:1', 'cuda', 'GPU'), v('m-qnn-npu:1', 'qnn', 'NPU')];
  t.equal(pickVariant(variants, 'm', automatic)?.id, 'm-generic-gpu:1', 'the generic GPU variant beats the CPU one');
  t.equal(pickVariant(variants, 'm', ['cpu'])?.id, 'm-generic-cpu:1', 'without a hardware adapter: the CPU');
  t.equal(pickVariant(variants, 'm', ['cpu', 'webgpu', 'cuda', 'qnn'])?.id, 'm-qnn-npu:1', 'NPU first');
  t.equal(pickVariant(variants, 'm', ['cpu', 'webgpu', 'cuda'])?.id, 'm-cuda-gpu:1', 'CUDA before the generic GPU');
  t.same((await probe.getGpuDevice()).adapter?.name, 'Some GPU');
});

t.test('status, getgpudevice and service status show the adapter; the alias picks the CPU; the GPU variant loads when named', { skip: !onSwiftShader && 'no SwiftShader here' }, async (t) => {
  const cat = await startVariantCatalog({ webgpu: true });
  t.teardown(() => cat.close());
  const svc = await startTestService(t, ['--catalog-url', cat.catalogUrl]);
  const status = await (await fetch(`${svc.url}/openai/status`)).json() as { executionProviders: string[]; devices: DeviceReport };
  t.same(status.executionProviders, status.devices.providers);
  t.match(status.devices, { providers: ['cpu', 'webgpu'], automatic: ['cpu'], webgpu: { adapter: { name: /SwiftShader/, software: true, backend: 'vulkan' } } });

  const gpu = await fetch(`${svc.url}/openai/getgpudevice`);
  t.equal(await gpu.json(), 0, 'the seeds\' bare integer');
  t.equal(gpu.headers.get('x-crucible-gpu-provider'), 'webgpu');
  t.match(decodeURIComponent(gpu.headers.get('x-crucible-gpu-adapter') ?? ''), /SwiftShader/);
  t.equal(gpu.headers.get('x-crucible-gpu-software'), 'true');
  t.match(await (await fetch(`${svc.url}/openai/getgpudevice?detail=1`)).json(), { deviceId: 0, provider: 'webgpu', adapter: { software: true } });

  const cli = await crucible(svc.home, 'service', 'status');
  t.equal(cli.status, 0, cli.stderr);
  t.match(cli.stdout, /Execution providers: cpu, webgpu \(chosen automatically: cpu\)/);
  t.match(cli.stdout, /WebGPU adapter: SwiftShader Device \(Subzero\) \(vendor google, swiftshader, vulkan backend; software/);

  const download = async (model: string) => {
    const r = await fetch(`${svc.url}/openai/download`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' }, body: JSON.stringify({ model }) });
    return JSON.parse((await r.text()).trim().split('\n').at(-1)!) as { Success: boolean; model: string };
  };
  t.match(await download('tiny'), { Success: true, model: 'tiny-generic-cpu:1' }, 'the alias resolves to the CPU variant: the adapter is software');
  t.match(await download('tiny-generic-gpu:1'), { Success: true, model: 'tiny-generic-gpu:1' });
  t.same(await (await fetch(`${svc.url}/openai/load/tiny`)).json(), { model: 'tiny-generic-cpu:1' }, 'with both cached, still the CPU one');
  const load = await fetch(`${svc.url}/openai/load/tiny-generic-gpu:1`);
  t.equal(load.status, 200, 'named by id, the WebGPU variant runs on the software adapter');
  const ps = await (await fetch(`${svc.url}/openai/ps`)).json() as { id: string; executionProvider: string; kvCache: string }[];
  t.match(ps.find((m) => m.id === 'tiny-generic-gpu:1'), { executionProvider: 'webgpu', kvCache: 'device' }, 'on its own provider');
  t.match(ps.find((m) => m.id === 'tiny-generic-cpu:1'), { executionProvider: 'cpu' });
});

t.test('with no adapter at all, a WebGPU variant fails its load clearly, naming the variant that runs', async (t) => {
  const cat = await startVariantCatalog({ webgpu: true });
  t.teardown(() => cat.close());
  const home = tempHome('cru-noadapter-');
  // An agent of its own whose Vulkan loader finds no driver: WebGPU is bundled but has no adapter.
  const agent = spawn(process.execPath, [join(REPO, 'build', 'agent', 'main.js'), '--home', home, '--port', '0', '--catalog-url', cat.catalogUrl], {
    env: { ...process.env, VK_ICD_FILENAMES: join(home, 'no-such-icd.json') }, stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.teardown(async () => {
    if (agent.exitCode === null) { agent.kill('SIGTERM'); await new Promise((r) => agent.once('exit', r)); }
    rmSync(home, { recursive: true, force: true });
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    agent.stdout!.on('data', (b) => { out += b; const m = /listening on (http:\/\/\S+)/.exec(out); if (m) resolve(m[1]); });
    agent.once('exit', (code) => reject(new Error(`agent exited ${code}: ${out}`)));
  });
  const status = await (await fetch(`${url}/openai/status`)).json() as { devices: DeviceReport };
  t.match(status.devices, { providers: ['cpu'], automatic: ['cpu'], webgpu: { adapter: null, note: /no WebGPU adapter/ } });
  t.match(deviceLines(status.devices)[1], /^WebGPU adapter: none \(no WebGPU adapter/);
  t.equal(await (await fetch(`${url}/openai/getgpudevice`)).json(), -1);
  for (const model of ['tiny', 'tiny-generic-gpu:1']) {
    const r = await fetch(`${url}/openai/download`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' }, body: JSON.stringify({ model }) });
    t.match(JSON.parse((await r.text()).trim().split('\n').at(-1)!), { Success: true }, `${model} downloaded`);
  }
  const load = await fetch(`${url}/openai/load/tiny-generic-gpu:1`);
  t.equal(load.status, 400);
  t.match(await load.json(), { error: { code: 'unsupported_execution_provider', message: /'tiny-generic-gpu:1' is a variant for the webgpu execution provider, which cannot run on this machine: no WebGPU adapter.*providers that run here: cpu\. Its variant 'tiny-generic-cpu:1' runs here/ } });
});
