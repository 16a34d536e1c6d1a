import ort from 'onnxruntime-node';
import { CrucibleError } from '../protocol/errors.js';
import type { DeviceReport, GpuDevice, WebGpuReport } from '../protocol/models.js';
import { probeWebGpuAdapter } from './gpu-adapter.js';
import { deviceRank } from './resolve.js';

const GPU_PROVIDERS = ['cuda', 'dml', 'webgpu', 'coreml'];

export interface DeviceProbeOptions {
  /** Which WebGPU adapter exists (default: ask Dawn in a child process, see gpu-adapter.ts). */
  webgpuAdapter?: () => Promise<WebGpuReport>;
  /** Whether a provider can create a session (default: load the probe model with it). */
  createSession?: (provider: string) => Promise<void>;
  /** The providers bundled with onnxruntime-node here (default: its own list). */
  bundled?: () => string[];
}

/**
 * What this machine can run. Providers: those that really create a session here, found by loading
 * a small model with each bundled one (WebGPU ships everywhere but needs an adapter). For WebGPU,
 * the adapter too, since a session also starts on a CPU implementation of Vulkan such as
 * SwiftShader: such a software adapter serves a model asked for with `ep=webgpu`, but is never
 * chosen automatically as "the GPU". Probed once, lazily, since it costs a session per provider.
 */
export class DeviceProbe {
  private probed: Promise<DeviceReport> | null = null;
  private found: DeviceReport | null = null;
  /** The device index GPU providers use (the seeds' get/setgpudevice). */
  private gpuDevice = 0;

  constructor(private readonly probeModel: string, private readonly opts: DeviceProbeOptions = {}) {}

  report(): Promise<DeviceReport> {
    this.probed ??= this.probe().then((r) => (this.found = r));
    return this.probed;
  }

  /** Providers that create a session here: any of them can be asked for by name. */
  async providers(): Promise<string[]> {
    return (await this.report()).providers;
  }

  /** Providers chosen when a model names none, best first in Foundry's order; hardware only. */
  async automatic(): Promise<string[]> {
    return (await this.report()).automatic;
  }

  /** The probe's answer once it has run; only the CPU before. */
  known(): string[] {
    return this.found?.providers ?? ['cpu'];
  }

  /** Like known(), for automatic choices. */
  knownAutomatic(): string[] {
    return this.found?.automatic ?? ['cpu'];
  }

  /** Why a provider cannot run here, for error messages (the WebGPU adapter probe's note). */
  whyNot(provider: string): string {
    if (provider === 'webgpu') {
      const w = this.found?.webgpu;
      return w ? `no WebGPU adapter here (${w.note ?? 'none found'})` : 'WebGPU is not bundled with ONNX Runtime on this platform';
    }
    return `onnxruntime-node here has no working '${provider}' provider`;
  }

  async gpuProviders(): Promise<string[]> {
    return (await this.providers()).filter((p) => GPU_PROVIDERS.includes(p));
  }

  /** The selected device index; -1 where no GPU provider can run (seed 000 answers an integer). */
  async getGpuDevice(): Promise<GpuDevice> {
    const gpus = await this.gpuProviders();
    if (gpus.length === 0) return { deviceId: -1 };
    const report = await this.report();
    // The index's provider: a hardware one when there is one.
    const provider = report.automatic.find((p) => gpus.includes(p)) ?? gpus[0];
    return { deviceId: this.gpuDevice, provider, adapter: provider === 'webgpu' ? report.webgpu?.adapter ?? null : null };
  }

  async setGpuDevice(req: GpuDevice): Promise<GpuDevice> {
    const gpus = await this.requireGpu();
    // onnxruntime-node exposes one adapter per GPU provider; index 0 is the only valid one.
    if (req.deviceId >= 1) {
      throw new CrucibleError('no_gpu_device', `GPU device ${req.deviceId} does not exist; valid ids: 0 (${gpus.join(', ')})`, 'deviceId');
    }
    this.gpuDevice = req.deviceId;
    return this.getGpuDevice();
  }

  private async requireGpu(): Promise<string[]> {
    const gpus = await this.gpuProviders();
    if (gpus.length === 0) {
      const all = await this.providers();
      throw new CrucibleError('no_gpu_device', `no GPU execution provider can run on this machine; available providers: ${all.join(', ')}`, 'deviceId');
    }
    return gpus;
  }

  private async probe(): Promise<DeviceReport> {
    const bundled = this.opts.bundled?.() ?? ort.listSupportedBackends().filter((b) => b.bundled).map((b) => b.name);
    const create = this.opts.createSession ?? (async (provider: string) => {
      const s = await ort.InferenceSession.create(this.probeModel, { executionProviders: [provider] });
      await s.release();
    });
    const providers = ['cpu'];
    for (const name of bundled) {
      if (name === 'cpu') continue;
      try {
        await create(name);
        providers.push(name);
      } catch {
        // Not usable on this machine.
      }
    }
    const webgpu = bundled.includes('webgpu') ? await (this.opts.webgpuAdapter ?? probeWebGpuAdapter)() : null;
    // WebGPU is automatic only on a hardware adapter; an unknown adapter is not assumed to be one.
    const hardware = (p: string) => p !== 'webgpu' || (webgpu?.adapter != null && !webgpu.adapter.software);
    const automatic = providers.filter(hardware).sort((a, b) => deviceRank(a) - deviceRank(b));
    return { providers, automatic, webgpu };
  }
}
