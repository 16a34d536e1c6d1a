import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export { onnx };
export type Node = onnxProto.onnx.INodeProto;

/** The parts of a plain export the fuser reads: weights by name and the node graph. */
export class SourceGraph {
  readonly weights = new Map<string, { dims: number[]; data: Float32Array }>();
  readonly nodes: Node[];
  readonly consumers = new Map<string, Node[]>();
  readonly producer = new Map<string, Node>();
  readonly outputs: string[];

  constructor(path: string) {
    const model = onnx.ModelProto.decode(readFileSync(path));
    const g = model.graph!;
    for (const t of g.initializer ?? []) {
      if (t.dataType !== onnx.TensorProto.DataType.FLOAT) continue;
      const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
      const data = raw ? new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)) : Float32Array.from(t.floatData ?? []);
      this.weights.set(t.name!, { dims: (t.dims ?? []).map(Number), data });
    }
    this.nodes = g.node ?? [];
    for (const n of this.nodes) {
      for (const i of n.input ?? []) this.consumers.set(i, [...(this.consumers.get(i) ?? []), n]);
      for (const o of n.output ?? []) this.producer.set(o, n);
    }
    this.outputs = (g.output ?? []).map((o) => o.name!);
  }

  /** The initializer behind a value, looking through Identity nodes (exporters share equal weights that way). */
  weight(name: string): { dims: number[]; data: Float32Array } | undefined {
    for (let v = name, hops = 0; hops < 8; hops++) {
      const w = this.weights.get(v);
      if (w) return w;
      const p = this.producer.get(v);
      if (!p || p.opType !== 'Identity') return undefined;
      v = p.input![0];
    }
    return undefined;
  }

  /** Graph outputs reachable from a value, following the data flow forward. */
  reaches(value: string, targets: Set<string>, limit = 400): Set<string> {
    const found = new Set<string>();
    const seen = new Set<string>([value]);
    const queue = [value];
    while (queue.length > 0 && seen.size < limit * 4) {
      const v = queue.shift()!;
      if (targets.has(v)) found.add(v);
      for (const n of this.consumers.get(v) ?? []) {
        for (const o of n.output ?? []) if (!seen.has(o)) { seen.add(o); queue.push(o); }
      }
    }
    return found;
  }

  /** True when some node within `depth` steps downstream has this op type. */
  feeds(value: string, opType: string, depth = 3): boolean {
    let frontier = [value];
    for (let d = 0; d < depth; d++) {
      const next: string[] = [];
      for (const v of frontier) {
        for (const n of this.consumers.get(v) ?? []) {
          if (n.opType === opType) return true;
          next.push(...(n.output ?? []));
        }
      }
      frontier = next;
    }
    return false;
  }
}

/** Builds a graph node by node; initializers are raw little-endian tensors. */
export class GraphBuilder {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private count = 0;

  weight(name: string, dims: number[], data: Float32Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array, type = onnx.TensorProto.DataType.FLOAT): string {
    this.initializers.push({ name, dims, dataType: type, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }

  op(opType: string, inputs: string[], attrs: Record<string, number | number[] | string> = {}, outputs = 1, domain = '', names?: string[]): string[] {
    const id = `${opType}_${this.count++}`;
    const outs = names ?? Array.from({ length: outputs }, (_, i) => `${id}_out${i}`);
    const attribute = Object.entries(attrs).map(([name, v]) => {
      if (typeof v === 'string') return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(v) };
      if (Array.isArray(v)) return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v };
      return Number.isInteger(v) ? { name, type: onnx.AttributeProto.AttributeType.INT, i: v } : { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v };
    });
    this.nodes.push({ opType, input: inputs, output: outs, name: id, domain, attribute });
    return outs;
  }

  encode(inputs: onnxProto.onnx.IValueInfoProto[], outputs: onnxProto.onnx.IValueInfoProto[], producer = 'crucible-fuse'): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: producer,
      opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
      graph: { name: producer, node: this.nodes, initializer: this.initializers, input: inputs, output: outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  /**
   * Encodes with the larger initializers moved into one external data file (`location`, beside
   * the graph), as exports over 2 GB must and many onnx-community ones do.
   */
  encodeExternal(inputs: onnxProto.onnx.IValueInfoProto[], outputs: onnxProto.onnx.IValueInfoProto[], location: string, producer = 'crucible-fuse', minBytes = 1024): { graph: Uint8Array; data: Uint8Array } {
    const parts: Uint8Array[] = [];
    let offset = 0;
    for (const t of this.initializers) {
      const raw = t.rawData as Uint8Array;
      if (!raw || raw.byteLength < minBytes) continue;
      // Aligned so the runtime can map each tensor in place.
      const pad = (64 - (offset % 64)) % 64;
      if (pad) parts.push(new Uint8Array(pad));
      offset += pad;
      parts.push(raw);
      t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      t.externalData = [{ key: 'location', value: location }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(raw.byteLength) }];
      t.rawData = new Uint8Array(0);
      offset += raw.byteLength;
    }
    const data = new Uint8Array(offset);
    let at = 0;
    for (const p of parts) { data.set(p, at); at += p.byteLength; }
    return { graph: this.encode(inputs, outputs, producer), data };
  }
}

/** A graph input or output declaration with symbolic dimensions. */
export function valueInfo(name: string, type: number, dims: (number | string)[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: type, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}
