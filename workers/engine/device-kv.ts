import ort from 'onnxruntime-node';
import { GraphBuilder, onnx, valueInfo } from '../optimize/onnx-graph.js';
import type { CacheType } from './batch-cache.js';

/** What the device-resident cache did, for the tests, the benchmark and `/openai/ps`. */
export interface DeviceKvStats {
  /** Device tensors held now (KV caches of the batch and of sequences being prefilled). */
  liveTensors: number;
  /** Most device tensors held at once since load. */
  peakTensors: number;
  /** Times a cache (every layer) was brought back to host memory: a finished row kept for prefix reuse. */
  downloads: number;
  /** Joins and leaves done on the device (rows gathered, padded and concatenated there). */
  deviceRearranges: number;
  /** Decode steps whose caches went in and came out on the device. */
  deviceSteps: number;
}

/**
 * KV caches that stay on the GPU between steps. The session writes `present.*` to device buffers
 * (`preferredOutputLocation: 'gpu-buffer'`) that the next step takes straight back as
 * `past_key_values.*`; only the logits come to the host. When the batch's membership changes the
 * caches are rearranged on the device too, by two small graphs on the same device: Gather the rows
 * that stay and Slice off padding no row needs (a leave), Pad two caches to one width and Concat
 * them (a join), in the alignment BatchCache keeps on the CPU. Only a finished sequence's row,
 * kept for prefix reuse, comes back to host memory.
 *
 * onnxruntime-node 1.30 cannot download a device tensor itself (`Tensor.getData()` on a
 * gpu-buffer output aborts the process: its binding's download is "not implemented"), so a tiny
 * second session on the same WebGPU device, Identity per layer with host outputs, does it. Every
 * device tensor this engine receives is tracked here and disposed when dropped, so device memory
 * follows what is in use.
 */
export class DeviceKv {
  private readonly live = new Set<ort.Tensor>();
  readonly stats: DeviceKvStats = { liveTensors: 0, peakTensors: 0, downloads: 0, deviceSteps: 0, deviceRearranges: 0 };

  private constructor(
    private readonly copier: ort.InferenceSession,
    /** Rows [rows] of every layer, positions [start, end): a batch without the rows that left, or one row. */
    private readonly keeper: ort.InferenceSession,
    /** Two caches padded to one width and stacked: a block joining the batch. */
    private readonly joiner: ort.InferenceSession,
    private readonly count: number,
  ) {}

  /** Session options that keep these outputs on the device. */
  static outputs(presentNames: string[]): ort.InferenceSession.SessionOptions['preferredOutputLocation'] {
    return Object.fromEntries(presentNames.map((n) => [n, 'gpu-buffer' as const]));
  }

  /** `count` cache tensors of `type`, on the provider the model runs on. */
  static async create(count: number, type: CacheType, ep: string): Promise<DeviceKv> {
    const elem = type === 'float16' ? onnx.TensorProto.DataType.FLOAT16 : onnx.TensorProto.DataType.FLOAT;
    const I64 = onnx.TensorProto.DataType.INT64;
    const cache = (name: string, b = 'batch', p = 'past') => valueInfo(name, elem, [b, 'heads', p, 'head_dim']);
    const out = (name: string) => valueInfo(name, elem, ['out_batch', 'heads', 'out_past', 'head_dim']);
    const options = (names: string[], onDevice: boolean): ort.InferenceSession.SessionOptions => ({
      executionProviders: [ep], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'disabled',
      ...(onDevice ? { preferredOutputLocation: DeviceKv.outputs(names) } : {}),
    });
    const names = Array.from({ length: count }, (_, i) => `out${i}`);

    const copy = new GraphBuilder();
    for (let i = 0; i < count; i++) copy.op('Identity', [`kv${i}`], {}, 1, '', [`out${i}`]);
    const copier = await ort.InferenceSession.create(copy.encode(names.map((_, i) => cache(`kv${i}`)), names.map(out), 'crucible-kv-download'), options(names, false));

    const keep = new GraphBuilder();
    keep.weight('axes', [1], BigInt64Array.from([2n]), I64);
    for (let i = 0; i < count; i++) {
      const [rows] = keep.op('Gather', [`kv${i}`, 'rows'], { axis: 0 });
      keep.op('Slice', [rows, 'start', 'end', 'axes'], {}, 1, '', [`out${i}`]);
    }
    const keepInputs = [...names.map((_, i) => cache(`kv${i}`)), valueInfo('rows', I64, ['kept']), valueInfo('start', I64, [1]), valueInfo('end', I64, [1])];
    const keeper = await ort.InferenceSession.create(keep.encode(keepInputs, names.map(out), 'crucible-kv-keep'), options(names, true));

    const join = new GraphBuilder();
    for (let i = 0; i < count; i++) {
      const [a] = join.op('Pad', [`a${i}`, 'pad_a']);
      const [b] = join.op('Pad', [`b${i}`, 'pad_b']);
      join.op('Concat', [a, b], { axis: 0 }, 1, '', [`out${i}`]);
    }
    const joinInputs = [...names.map((_, i) => cache(`a${i}`, 'a_batch', 'a_past')), ...names.map((_, i) => cache(`b${i}`, 'b_batch', 'b_past')),
      valueInfo('pad_a', I64, [8]), valueInfo('pad_b', I64, [8])];
    const joiner = await ort.InferenceSession.create(join.encode(joinInputs, names.map(out), 'crucible-kv-join'), options(names, true));
    return new DeviceKv(copier, keeper, joiner, count);
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
    return tensors.map((_, i) => out[`out${i}`]);
  }

  /**
   * Rows `rows` of a cache, positions `start`..`end`, computed on the device. The input is freed
   * unless `keepInput` (a row copied out of a batch that goes on).
   */
  async keep(tensors: ort.Tensor[], rows: number[], start: number, end: number, keepInput = false): Promise<ort.Tensor[]> {
    const feeds: Record<string, ort.Tensor> = {
      rows: new ort.Tensor('int64', BigInt64Array.from(rows.map(BigInt)), [rows.length]),
      start: new ort.Tensor('int64', BigInt64Array.from([BigInt(start)]), [1]),
      end: new ort.Tensor('int64', BigInt64Array.from([BigInt(end)]), [1]),
    };
    tensors.forEach((t, i) => { feeds[`kv${i}`] = t; });
    return this.rearranged(await this.keeper.run(feeds), keepInput ? [] : tensors);
  }

  /** Cache `a` then cache `b` stacked on the batch axis, each padded along positions by its `pads` (ONNX Pad's 8 numbers). */
  async join(a: ort.Tensor[], b: ort.Tensor[], padA: number[], padB: number[]): Promise<ort.Tensor[]> {
    const feeds: Record<string, ort.Tensor> = {
      pad_a: new ort.Tensor('int64', BigInt64Array.from(padA.map(BigInt)), [8]),
      pad_b: new ort.Tensor('int64', BigInt64Array.from(padB.map(BigInt)), [8]),
    };
    a.forEach((t, i) => { feeds[`a${i}`] = t; });
    b.forEach((t, i) => { feeds[`b${i}`] = t; });
    return this.rearranged(await this.joiner.run(feeds), [...a, ...b]);
  }

  private rearranged(out: ort.InferenceSession.OnnxValueMapType, drop: ort.Tensor[]): ort.Tensor[] {
    const result = Array.from({ length: this.count }, (_, i) => out[`out${i}`]);
    this.track(result);
    this.release(drop);
    this.stats.deviceRearranges++;
    return result;
  }

  async close(): Promise<void> {
    this.release([...this.live]);
    await Promise.all([this.copier.release(), this.keeper.release(), this.joiner.release()]);
  }
}
