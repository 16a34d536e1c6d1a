import ort from 'onnxruntime-node';
import { GraphBuilder, onnx, valueInfo } from '../optimize/onnx-graph.js';
import type { CacheType } from './batch-cache.js';

/** What the device-resident cache did, for the tests, the benchmark and `/openai/ps`. */
export interface DeviceKvStats {
  /** Device tensors held now (KV caches of the batch and of sequences being prefilled). */
  liveTensors: number;
  /** Most device tensors held at once since load. */
  peakTensors: number;
  /** Times a whole cache (every layer) was brought back to host memory: only when the batch changes. */
  downloads: number;
  /** Decode steps whose caches went in and came out on the device. */
  deviceSteps: number;
}

/**
 * KV caches that stay on the GPU between steps. The session writes `present.*` to device buffers
 * (`preferredOutputLocation: 'gpu-buffer'`) that the next step takes straight back as
 * `past_key_values.*`; only the logits come to the host. When the batch's membership changes the
 * caches are downloaded, rearranged on the host as BatchCache does for the CPU, and the next step
 * uploads them (ONNX Runtime copies host inputs to the device).
 *
 * onnxruntime-node 1.30 cannot download a device tensor itself (`Tensor.getData()` on a
 * gpu-buffer output aborts the process: its binding's download is "not implemented"), so a tiny
 * second session on the same WebGPU device, Identity per layer with host outputs, does it. Every
 * device tensor this engine receives is tracked here and disposed when dropped, so device memory
 * follows what is in use.
 */
export class DeviceKv {
  private readonly live = new Set<ort.Tensor>();
  readonly stats: DeviceKvStats = { liveTensors: 0, peakTensors: 0, downloads: 0, deviceSteps: 0 };

  private constructor(private readonly copier: ort.InferenceSession, private readonly count: number) {}

  /** Session options that keep these outputs on the device. */
  static outputs(presentNames: string[]): ort.InferenceSession.SessionOptions['preferredOutputLocation'] {
    return Object.fromEntries(presentNames.map((n) => [n, 'gpu-buffer' as const]));
  }

  /** `count` cache tensors of `type`, on the provider the model runs on. */
  static async create(count: number, type: CacheType, ep: string): Promise<DeviceKv> {
    const g = new GraphBuilder();
    const elem = type === 'float16' ? onnx.TensorProto.DataType.FLOAT16 : onnx.TensorProto.DataType.FLOAT;
    const inputs = [];
    const outputs = [];
    for (let i = 0; i < count; i++) {
      g.op('Identity', [`kv${i}`], {}, 1, '', [`host${i}`]);
      inputs.push(valueInfo(`kv${i}`, elem, ['batch', 'heads', 'past', 'head_dim']));
      outputs.push(valueInfo(`host${i}`, elem, ['batch', 'heads', 'past', 'head_dim']));
    }
    const copier = await ort.InferenceSession.create(g.encode(inputs, outputs, 'crucible-kv-download'), {
      executionProviders: [ep], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'disabled',
    });
    return new DeviceKv(copier, count);
  }

  static onDevice(t: ort.Tensor | undefined): boolean {
    return t !== undefined && t.location === 'gpu-buffer';
  }

  /** Takes ownership of the device tensors among a run's outputs. */
  track(tensors: Iterable<ort.Tensor>): void {
    for (const t of tensors) if (DeviceKv.onDevice(t)) this.live.add(t);
    this.stats.liveTensors = this.live.size;
    this.stats.peakTensors = Math.max(this.stats.peakTensors, this.live.size);
  }

  /** Frees the device tensors among these (host ones are left to the garbage collector). */
  release(tensors: Iterable<ort.Tensor> | null | undefined): void {
    if (!tensors) return;
    for (const t of tensors) {
      if (!this.live.delete(t)) continue;
      t.dispose();
    }
    this.stats.liveTensors = this.live.size;
  }

  /** A cache in host memory: downloaded (and the device copy freed) when it is on the device. */
  async toHost(tensors: ort.Tensor[]): Promise<ort.Tensor[]> {
    if (!tensors.some((t) => DeviceKv.onDevice(t))) return tensors;
    if (tensors.length !== this.count) throw new Error(`a cache has ${this.count} tensors, not ${tensors.length}`);
    const feeds: Record<string, ort.Tensor> = {};
    tensors.forEach((t, i) => { feeds[`kv${i}`] = t; });
    const out = await this.copier.run(feeds);
    this.release(tensors);
    this.stats.downloads++;
    return tensors.map((_, i) => out[`host${i}`]);
  }

  async close(): Promise<void> {
    this.release([...this.live]);
    await this.copier.release();
  }
}
