import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CrucibleError } from '../../protocol/errors.js';
import { onnx } from '../optimize/onnx-graph.js';

/** What the engine must know about a graph before it batches requests through it. */
export interface GraphFacts {
  /**
   * `gqa`: GroupQueryAttention, which takes per-row lengths (seqlens_k) and needs right-padded
   * caches; `masked`: attention that honours a full attention mask (plain exports, MultiHeadAttention).
   */
  attention: 'gqa' | 'masked';
  /** External data files the graph's weights live in, relative to the graph's folder. */
  externalFiles: string[];
}

const CHUNK = 2 ** 20;
/** Graphs whose weights are inline are read whole only up to this size to list external files. */
const PARSE_LIMIT = 512 * 2 ** 20;

/**
 * Op types and external-data keys are plain strings inside the protobuf, so one streaming scan
 * finds them in a graph of any size without decoding its weights.
 */
function scan(path: string, needles: string[]): Set<string> {
  const found = new Set<string>();
  const bytes = needles.map((n) => Buffer.from(n));
  const overlap = Math.max(...bytes.map((b) => b.length));
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(CHUNK + overlap);
    let carried = 0;
    let offset = 0;
    for (;;) {
      const n = readSync(fd, buf, carried, CHUNK, offset);
      if (n <= 0) break;
      offset += n;
      const view = buf.subarray(0, carried + n);
      bytes.forEach((b, i) => { if (!found.has(needles[i]) && view.indexOf(b) >= 0) found.add(needles[i]); });
      if (found.size === needles.length) break;
      carried = Math.min(overlap, view.length);
      view.copy(buf, 0, view.length - carried);
    }
  } finally {
    closeSync(fd);
  }
  return found;
}

function externalLocations(path: string): string[] {
  const model = onnx.ModelProto.decode(readFileSync(path));
  const files = new Set<string>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const loc = (t.externalData ?? []).find((e) => e.key === 'location')?.value;
    if (loc) files.add(loc);
  }
  return [...files];
}

export function readGraphFacts(path: string): GraphFacts {
  const found = scan(path, ['GroupQueryAttention', 'location']);
  const externalFiles = found.has('location') && statSync(path).size <= PARSE_LIMIT ? externalLocations(path) : [];
  return { attention: found.has('GroupQueryAttention') ? 'gqa' : 'masked', externalFiles };
}

/** A graph whose external weights are missing fails with the file it needs, before ONNX Runtime tries. */
export function checkExternalData(path: string, facts: GraphFacts): void {
  const missing = facts.externalFiles.filter((f) => !existsSync(join(dirname(path), f)));
  if (missing.length > 0) {
    throw new CrucibleError('model_load_failed',
      `${path} keeps its weights in ${missing.join(', ')}, which ${missing.length > 1 ? 'are' : 'is'} missing from ${dirname(path)}: download the model again`);
  }
}
