import ort from 'onnxruntime-node';
import { CrucibleError } from '../protocol/errors.js';
import type { GpuDevice } from '../protocol/models.js';

const GPU_PROVIDERS = ['cuda', 'dml', 'webgpu', 'coreml'];

/**
 * Execution providers that can really create a session here, found by loading a small model with
 * each bundled provider. The bundled list alone is not enough: WebGPU ships everywhere but needs
 * an adapter. Probed once, lazily, since it costs a session per provider.
 */
export class DeviceProbe {
  private probed: Promise<string[]> | null = null;
  private found: string[] | null = null;
  /** The device index GPU providers use (the seeds' get/setgpudevice). */
  private gpuDevice = 0;

  constructor(private readonly probeModel: string) {}

  providers(): Promise<string[]> {
    this.probed ??= this.probe().then((list) => (this.found = list));
    return this.probed;
  }

  /** The probe's answer once it has run; only the CPU before. */
  known(): string[] {
    return this.found ?? ['cpu'];
  }

  async gpuProviders(): Promise<string[]> {
    return (await this.providers()).filter((p) => GPU_PROVIDERS.includes(p));
  }

  /** The selected device index; -1 where no GPU provider can run (seed 000 answers an integer). */
  async getGpuDevice(): Promise<GpuDevice> {
    return { deviceId: (await this.gpuProviders()).length === 0 ? -1 : this.gpuDevice };
  }

  async setGpuDevice(req: GpuDevice): Promise<GpuDevice> {
    const gpus = await this.requireGpu();
    // onnxruntime-node exposes one adapter per GPU provider; index 0 is the only valid one.
    if (req.deviceId >= 1) {
      throw new CrucibleError('no_gpu_device', `GPU device ${req.deviceId} does not exist; valid ids: 0 (${gpus.join(', ')})`, 'deviceId');
    }
    this.gpuDevice = req.deviceId;
    return { deviceId: this.gpuDevice };
  }

  private async requireGpu(): Promise<string[]> {
    const gpus = await this.gpuProviders();
    if (gpus.length === 0) {
      const all = await this.providers();
      throw new CrucibleError('no_gpu_device', `no GPU execution provider can run on this machine; available providers: ${all.join(', ')}`, 'deviceId');
    }
    return gpus;
  }

  private async probe(): Promise<string[]> {
    const works = ['cpu'];
    for (const b of ort.listSupportedBackends()) {
      if (!b.bundled || b.name === 'cpu') continue;
      try {
        const s = await ort.InferenceSession.create(this.probeModel, { executionProviders: [b.name] });
        await s.release();
        works.push(b.name);
      } catch {
        // Not usable on this machine.
      }
    }
    return works;
  }
}
