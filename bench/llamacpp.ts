/**
 * llama.cpp (node-llama-cpp's prebuilt CPU binaries) on the same weights: the model folder is
 * converted to an F32 GGUF file (bench/gguf.ts) and decoded greedily, one sequence or several
 * sequences of one context decoded concurrently (llama.cpp batches them into one evaluation).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, LlamaLogLevel, type LlamaContextSequence, type Token } from 'node-llama-cpp';
import { readModelSpec } from '../workers/engine/model-spec.js';
import { Engine } from '../workers/engine/engine.js';
import { spmVocab, writeGguf } from './gguf.js';
import { type Figure, type Sample } from './stats.js';

/** A token's bytes as text pieces spell them: `▁` is a space, `<0xNN>` one byte. */
export const pieceBytes = (piece: string): number[] => {
  const hex = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
  return hex ? [parseInt(hex[1], 16)] : [...Buffer.from(piece.replace(/\u2581/g, ' '), 'utf8')];
};

export interface LlamaCppOptions {
  threads: number;
  /** Sequences of the parallel context (0: no parallel context). */
  parallel?: number;
  /** Where to write the GGUF file; a temporary folder by default. */
  ggufPath?: string;
}

export async function loadLlamaCpp(modelDir: string, { threads, parallel = 8, ggufPath }: LlamaCppOptions) {
  const tmp = ggufPath ? null : mkdtempSync(join(tmpdir(), 'crb-gguf-'));
  const path = ggufPath ?? join(tmp!, 'model.gguf');
  const spec = readModelSpec(modelDir);
  writeGguf(modelDir, path);
  const pieces = spmVocab(modelDir, spec.vocabSize).tokens;
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: threads });
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  // F32 caches, as Crucible keeps them; the whole trained context for each sequence.
  const contextOptions = {
    contextSize: spec.contextLength, threads, flashAttention: false,
    experimentalKvCacheKeyType: 'F32' as const, experimentalKvCacheValueType: 'F32' as const,
  };
  const one = await model.createContext({ ...contextOptions, sequences: 1 });
  const many = parallel > 0 ? await model.createContext({ ...contextOptions, sequences: parallel }) : null;

  /** BOS + the prompt, as Crucible's tokenizer encodes raw text. */
  const encode = (prompt: string): Token[] => {
    const ids = model.tokenize(prompt);
    const bos = model.tokens.bos;
    return bos !== null && ids[0] !== bos ? [bos, ...ids] : ids;
  };

  /** Exactly `tokens` greedy tokens on a sequence (end-of-text ignored), from a cleared history. */
  const decode = async (seq: LlamaContextSequence, prompt: string, tokens: number, t0: number) => {
    await seq.clearHistory();
    const out: Token[] = [];
    let ttftMs: number | null = null;
    if (tokens > 0) {
      for await (const t of seq.evaluate(encode(prompt), { temperature: 0, yieldEogToken: true })) {
        ttftMs ??= performance.now() - t0;
        out.push(t);
        if (out.length >= tokens) break;
      }
    }
    return { ids: out as number[], ttftMs };
  };

  const seqOne = one.getSequence();
  const seqMany = many ? Array.from({ length: parallel }, () => many.getSequence()) : [];

  /** One stream. */
  const single = async (prompt: string, tokens: number): Promise<Sample> => {
    const t0 = performance.now();
    const r = await decode(seqOne, prompt, tokens, t0);
    return { tokens: r.ids.length, seconds: (performance.now() - t0) / 1000, ttftMs: r.ttftMs };
  };

  /** One sequence per prompt, decoded concurrently in the parallel context; aggregate tokens per second. */
  const concurrent = async (prompts: string[], tokens: number): Promise<Sample> => {
    if (prompts.length > seqMany.length) throw new Error(`${prompts.length} prompts for ${seqMany.length} sequences`);
    const t0 = performance.now();
    const each = await Promise.all(prompts.map((p, i) => decode(seqMany[i], p, tokens, t0)));
    return { tokens: each.reduce((s, e) => s + e.ids.length, 0), seconds: (performance.now() - t0) / 1000, ttftMs: null };
  };

  /** Greedy token ids of one stream, and of the parallel context when it is there. */
  const greedy = async (prompt: string, tokens: number) => (await decode(seqOne, prompt, tokens, performance.now())).ids;
  const greedyParallel = async (prompts: string[], tokens: number) =>
    Promise.all(prompts.map(async (p, i) => (await decode(seqMany[i], p, tokens, performance.now())).ids));

  const dispose = async () => {
    await many?.dispose();
    await one.dispose();
    await model.dispose();
    await llama.dispose();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  };
  return {
    single, concurrent, greedy, greedyParallel, encode, dispose,
    tokenBytes: (id: number) => pieceBytes(pieces[id] ?? ''),
    text: (ids: number[]) => model.detokenize(ids as Token[]),
  };
}

export type LlamaCpp = Awaited<ReturnType<typeof loadLlamaCpp>>;

/** Crucible's engine in this process: the bytes of each of the first `tokens` greedy tokens of each raw prompt. */
export async function crucibleGreedyBytes(modelDir: string, threads: number, prompts: string[], tokens: number): Promise<number[][][]> {
  const engine = await Engine.create({ modelDir, executionProvider: 'cpu', intraOpThreads: threads, maxBatch: 8, prefillChunk: 128 });
  try {
    const all: number[][][] = [];
    for (const prompt of prompts) {
      const out: number[][] = [];
      await engine.generate({
        text: prompt, messages: [],
        sampling: { temperature: 0, topP: 1, topK: 0, presencePenalty: 0, frequencyPenalty: 0, maxTokens: tokens, stop: [], ignoreEos: true, logprobs: 0 },
        cancel: new SharedArrayBuffer(4),
        emit: (e) => {
          if (e.type === 'logprobs') for (const entry of e.entries) out.push(entry.bytes ?? []);
        },
      });
      all.push(out);
    }
    return all;
  } finally {
    await engine.release();
  }
}

export interface Agreement {
  /** Tokens compared (the shorter of the two outputs). */
  compared: number;
  /** Index of the first differing token, or null when all compared tokens are the same. */
  firstMismatch: number | null;
}

/** Compares llama.cpp's greedy ids with Crucible's greedy token bytes, token by token. */
export function agreement(llamaIds: number[], crucible: number[][], bytesOf: (id: number) => number[]): Agreement {
  const n = Math.min(llamaIds.length, crucible.length);
  for (let i = 0; i < n; i++) {
    const a = bytesOf(llamaIds[i]);
    const b = crucible[i];
    if (a.length !== b.length || a.some((x, j) => x !== b[j])) return { compared: n, firstMismatch: i };
  }
  return { compared: n, firstMismatch: null };
}

/** What the benchmark reports for llama.cpp on one model. */
export interface LlamaCppFigures {
  single: Figure;
  parallel: Figure;
  threads: number;
  sequences: number;
  /** Greedy agreement with Crucible's engine over the first `checkedTokens` tokens of every prompt. */
  checkedTokens: number;
  prompts: number;
  /** Prompts whose tokens differ from Crucible's: alone, and in the parallel context. */
  mismatches: { prompt: string; single: number | null; parallel: number | null }[];
}

/** llama.cpp loaded and checked, ready to be timed in the benchmark's rounds. */
export interface PreparedLlamaCpp {
  lc: LlamaCpp;
  check: Omit<LlamaCppFigures, 'single' | 'parallel'>;
}

/**
 * Converts and loads the model, then checks greedy agreement with Crucible on every prompt (first
 * 50 tokens, one stream and the parallel context) before anything is timed.
 */
export async function prepareLlamaCpp(modelDir: string, crucibleThreads: number, prompts: string[]): Promise<PreparedLlamaCpp> {
  const checkedTokens = 50;
  // Crucible's thread count unless overridden: llama.cpp's CPU threads spin at every barrier, so on
  // cores other work also wants they stall each other (see the README's Benchmark section).
  const threads = Number(process.env.CRUCIBLE_BENCH_LLAMACPP_THREADS ?? 0) || crucibleThreads;
  const lc = await loadLlamaCpp(modelDir, { threads, parallel: prompts.length });
  try {
    const crucible = await crucibleGreedyBytes(modelDir, crucibleThreads, prompts, checkedTokens);
    const together = await lc.greedyParallel(prompts, checkedTokens);
    const mismatches = [];
    for (let i = 0; i < prompts.length; i++) {
      const single = agreement(await lc.greedy(prompts[i], checkedTokens), crucible[i], lc.tokenBytes);
      const parallel = agreement(together[i], crucible[i], lc.tokenBytes);
      const short = (a: Agreement) => (a.compared < checkedTokens ? a.compared : a.firstMismatch);
      if (short(single) !== null || short(parallel) !== null) mismatches.push({ prompt: prompts[i], single: short(single), parallel: short(parallel) });
    }
    console.error(`  llama.cpp greedy tokens vs Crucible, first ${checkedTokens} of ${prompts.length} prompts: ${mismatches.length ? `DIFFER ${JSON.stringify(mismatches)}` : 'identical'}`);
    return { lc, check: { threads, sequences: prompts.length, checkedTokens, prompts: prompts.length, mismatches } };
  } catch (err) {
    await lc.dispose();
    throw err;
  }
}

/**
 * Table rows for llama.cpp and Crucible's HTTP rows against it; `ratios` are paired per round:
 * (i) and (j) to (a), (c) to (i), (e) to (j).
 */
export function llamaCppRows(l: LlamaCppFigures, ratios: { i: number; j: number; ci: number; ej: number }): string[] {
  const mark = l.mismatches.length ? ` (greedy tokens DIFFER from Crucible's on ${l.mismatches.length} of ${l.prompts} prompts)` : '';
  const row = (label: string, f: Figure, ratio: number) => `| ${label}${mark} | ${f.tokPerSec} | ${ratio.toFixed(2)}x | ${f.ttftMs === null ? '-' : `${f.ttftMs} ms`} |`;
  return [
    row(`(i) llama.cpp (node-llama-cpp, F32 GGUF, ${l.threads} thread(s)), 1 stream, called directly`, l.single, ratios.i),
    row(`(j) llama.cpp, ${l.sequences} parallel sequences of one context (aggregate)`, l.parallel, ratios.j),
    `| Crucible HTTP vs llama.cpp: (c)/(i), (e)/(j) | | ${ratios.ci.toFixed(2)}x, ${ratios.ej.toFixed(2)}x | |`,
    `| llama.cpp greedy tokens vs Crucible's, first ${l.checkedTokens} of each of ${l.prompts} prompts, alone and in parallel | ${l.mismatches.length ? `differ: ${JSON.stringify(l.mismatches)}` : 'identical'} | | |`,
  ];
}
