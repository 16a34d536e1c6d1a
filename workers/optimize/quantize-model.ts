import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { CrucibleError } from '../../protocol/errors.js';
import { stripVersion } from '../../protocol/validate.js';
import { readModelSpec, type ModelSpec } from '../engine/model-spec.js';
import { BatchCache } from '../engine/batch-cache.js';
import { halfToFloat } from '../engine/half.js';
import { TextCodec } from '../engine/text-codec.js';
import { writeGenaiModel } from './write-genai.js';

export interface QuantizeOptions {
  blockSize?: number;
  accuracyLevel?: 0 | 1 | 2 | 3 | 4;
  /** Refuse (write nothing) when greedy-token agreement with the original falls below this (0-1). */
  minAgreement?: number;
  /** Prompts and greedy tokens per prompt the report checks. */
  prompts?: string[];
  tokens?: number;
  threads?: number;
}

export interface AgreementReport {
  /** Share of positions where the int4 graph's greedy token equals the original's (teacher-forced on the original's tokens). */
  agreement: number;
  positions: number;
  /** Largest absolute logit difference over those positions. */
  maxLogitDiff: number;
  /** Tokens generated identically from the start of each prompt, before the first difference. */
  identicalPrefix: number[];
}

export interface QuantizeResult extends AgreementReport {
  dir: string;
  id: string;
  bytesBefore: number;
  bytesAfter: number;
}

const DEFAULT_PROMPTS = ['Once upon a time', 'The little dog', 'Tom and Sue went to the park', 'One day, a girl named Mia', 'The sun was shining and'];

/** Logits of every position for one sequence, from an empty cache: works for any decoder graph. */
async function forward(session: ort.InferenceSession, spec: ModelSpec, ids: number[]): Promise<Float32Array> {
  const n = spec.names;
  const feeds: Record<string, ort.Tensor> = {
    [n.inputIds]: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
    [n.attentionMask]: new ort.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
  };
  if (session.inputNames.includes(n.positionIds)) feeds[n.positionIds] = new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i))), [1, ids.length]);
  BatchCache.fillEmptyPast(session, feeds, 1);
  const out = (await session.run(feeds))[n.logits];
  return out.type === 'float16' ? halfToFloat(out.data as Uint16Array) : out.data as Float32Array;
}

const argmax = (x: Float32Array, at: number, len: number) => {
  let best = 0;
  for (let v = 1; v < len; v++) if (x[at + v] > x[at + best]) best = v;
  return best;
};

/** Greedy tokens of the original, then both graphs read them: agreement per position and logit gap. */
export async function compareGreedy(originalDir: string, candidateDir: string, prompts: string[], tokens: number, threads = 1): Promise<AgreementReport> {
  const a = readModelSpec(originalDir);
  const b = readModelSpec(candidateDir);
  const codec = new TextCodec(originalDir);
  const opts: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: threads, graphOptimizationLevel: 'all' };
  const [sa, sb] = await Promise.all([ort.InferenceSession.create(a.onnxPath, opts), ort.InferenceSession.create(b.onnxPath, opts)]);
  const vocab = a.vocabSize;
  let agree = 0;
  let positions = 0;
  let maxLogitDiff = 0;
  const identicalPrefix: number[] = [];
  try {
    for (const prompt of prompts) {
      const ids = codec.encodePrompt([{ role: 'user', content: prompt }]);
      const start = ids.length;
      for (let i = 0; i < tokens && ids.length < a.contextLength; i++) {
        const la = await forward(sa, a, ids);
        ids.push(argmax(la, (ids.length - 1) * vocab, vocab));
      }
      // One pass of each graph over the whole sequence: the token each would pick at every step.
      const [la, lb] = await Promise.all([forward(sa, a, ids), forward(sb, b, ids)]);
      let prefix = -1;
      for (let p = start - 1; p < ids.length - 1; p++) {
        const same = argmax(la, p * vocab, vocab) === argmax(lb, p * vocab, vocab);
        if (same) agree++;
        else if (prefix < 0) prefix = p - (start - 1);
        positions++;
        for (let v = 0; v < vocab; v++) maxLogitDiff = Math.max(maxLogitDiff, Math.abs(la[p * vocab + v] - lb[p * vocab + v]));
      }
      identicalPrefix.push(prefix < 0 ? ids.length - start : prefix);
    }
  } finally {
    await Promise.all([sa.release(), sb.release()]);
  }
  return { agreement: positions ? agree / positions : 1, positions, maxLogitDiff, identicalPrefix };
}

const onnxBytes = (dir: string) => ['onnx/model.onnx', 'onnx/model.onnx.data', 'model.onnx']
  .map((f) => join(dir, f)).filter(existsSync).reduce((s, f) => s + readFileSync(f).byteLength, 0);

/**
 * `crucible model optimize --int4`: rewrites a plain export into ONNX Runtime GenAI's int4 form
 * (MatMulNBits projections and output layer, 4-bit embedding lookup, GroupQueryAttention), checks
 * greedy-token agreement with the original, and only then moves it into place. It changes outputs,
 * so it is never applied without being asked.
 */
export async function quantizeModel(srcDir: string, outDir: string, manifest: { id: string; alias?: string | null }, opts: QuantizeOptions = {}): Promise<QuantizeResult> {
  const blockSize = opts.blockSize ?? 32;
  const accuracyLevel = opts.accuracyLevel ?? 4;
  const stem = stripVersion(manifest.id);
  const version = manifest.id.slice(stem.length);
  const id = `${stem}-int4${version}`;
  const check = `${outDir}.check-${process.pid}`;
  try {
    writeGenaiModel(srcDir, check, {
      int4: { blockSize, accuracyLevel, zeroPoints: false, lmHead: true, embeddings: true },
      ioType: 'float32',
      manifest: { id, ...(manifest.alias ? { alias: `${manifest.alias}-int4` } : {}), quantizedFrom: manifest.id, quantization: { bits: 4, blockSize, accuracyLevel } },
    });
    const report = await compareGreedy(srcDir, check, opts.prompts ?? DEFAULT_PROMPTS, opts.tokens ?? 32, opts.threads ?? 1);
    if (opts.minAgreement !== undefined && report.agreement < opts.minAgreement) {
      throw new CrucibleError('invalid_request',
        `int4 agrees with the original on ${(report.agreement * 100).toFixed(1)}% of greedy tokens, below --min-agreement ${(opts.minAgreement * 100).toFixed(1)}%; nothing was written`, 'min_agreement');
    }
    const result = { ...report, dir: outDir, id, bytesBefore: onnxBytes(srcDir), bytesAfter: onnxBytes(check) };
    rmSync(outDir, { recursive: true, force: true });
    renameSync(check, outDir);
    return result;
  } finally {
    rmSync(check, { recursive: true, force: true });
  }
}
