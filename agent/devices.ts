import ort from 'onnxruntime-node';

const GPU_PROVIDERS = ['cuda', 'dml', 'webgpu', 'coreml'];

/**
 * Execution providers that can really create a session here, found by loading a small model with
 * each bundled provider. The bundled list alone is not enough: WebGPU ships everywhere but needs
 * an adapter. Probed once, lazily, since it costs a session per provider.
 */
export class DeviceProbe {
  private probed: Promise<string[]> | null = null;

  constructor(private readonly probeModel: string) {}

  providers(): Promise<string[]> {
    this.probed ??= this.probe();
    return this.probed;
  }

  async gpuProviders(): Promise<string[]> {
    return (await this.providers()).filter((p) => GPU_PROVIDERS.includes(p));
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
