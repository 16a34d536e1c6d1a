/**
 * `npm run bench`: Crucible against transformers.js on the same model folders, in one run.
 *   (a) transformers.js, one stream, in-process      (b) Crucible engine, one stream, in-process
 *   (c) Crucible over HTTP (SSE), one stream         (d) Crucible over the pipe, one stream
 *   (e) Crucible, 8 concurrent HTTP streams          (f) transformers.js, static batch of 8
 *   (g) Crucible HTTP, 1 stream, on the int4 form     (h) the same, 8 concurrent streams
 *   (i) llama.cpp on the same weights as F32 GGUF     (j) llama.cpp, 8 parallel sequences (bench/llamacpp.ts)
 *       (`crucible model optimize --int4`: MatMulNBits block 32, accuracy level 4)
 * Greedy, exactly N new tokens each; medians over --runs runs after a warm-up; ratios to (a).
 * `--ep webgpu` measures instead each model on the WebGPU provider next to the CPU (bench/webgpu.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, hostname, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { threadsFor } from '../agent/config.js';
import { optimizeModel } from '../workers/optimize/optimize-model.js';
import { quantizeModel } from '../workers/optimize/quantize-model.js';
import { type GrammarFigures, benchGrammar } from './grammar.js';
import { loadFloor, profileEngine } from './floor.js';
import { loadEngine, startAgent } from './crucible.js';
import { type LlamaCppFigures, benchLlamaCpp, llamaCppRows } from './llamacpp.js';
import { loadPeer } from './peer.js';
import { type WebGpuResult, adapterOf, benchWebGpu, webGpuTable } from './webgpu.js';
import { type Figure, repeat, summarise } from './stats.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { values } = parseArgs({
  options: {
    models: { type: 'string', default: ['stories260k', 'bench15m'].map((m) => join(ROOT, '..', 'shared', 'models', m)).join(',') },
    runs: { type: 'string', default: '3' },
    tokens: { type: 'string', default: '200' },
    profile: { type: 'boolean', default: false },
    ep: { type: 'string', default: 'cpu' },
  },
});
const runs = Number(values.runs);
const tokens = Number(values.tokens);
const PROMPTS = ['Once upon a time', 'The little dog', 'One day, Lily', 'Tom had a big', 'The sun was', 'A bird sat on', 'Mom said that', 'There was a tree'];

const onnxBytes = (dir: string) => statSync(join(dir, 'onnx', 'model.onnx')).size;
const contextOf = (dir: string) => Number(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).max_position_embeddings ?? 256);
const mb = (b: number | null) => (b === null ? null : Math.round(b / 1e5) / 10);

interface ModelResult {
  model: string;
  threads: number;
  /** Whether Crucible ran the fused graph of `crucible model optimize` (else the plain export). */
  fused: boolean;
  figures: Record<'a' | 'b0' | 'b' | 'c' | 'd' | 'e' | 'f' | 'g' | 'h' | 'floor1' | 'floor8', Figure>;
  profile: { one: Record<string, number>; eight: Record<string, number> } | null;
  memoryMb: { peer: number | null; crucible: number | null; int4: number | null; crucibleSession: number | null; int4Session: number | null };
  int4: { agreement: number; mbBefore: number; mbAfter: number };
  grammar: GrammarFigures;
  /** Time to first token of a conversation's second turn against its first (prefix reuse). */
  turns: { firstMs: number; secondMs: number; cached: number; words: number };
  llamacpp: LlamaCppFigures;
}

async function benchModel(dir: string): Promise<ModelResult> {
  const threads = threadsFor(onnxBytes(dir), { threads: 0, replicas: 1 });
  console.error(`\n${dir} (${threads} intra-op thread${threads > 1 ? 's' : ''})`);
  const peer = await loadPeer(dir, threads);
  const a = summarise(await repeat(runs, () => peer.single(PROMPTS[0], tokens)));
  console.error(`  (a) transformers.js single: ${a.tokPerSec} tok/s`);
  const f = summarise(await repeat(runs, () => peer.batch(PROMPTS, tokens)));
  console.error(`  (f) transformers.js batch 8: ${f.tokPerSec} tok/s`);
  const peerMemory = peer.memoryBytes;
  await peer.dispose();
  const llamacpp = await benchLlamaCpp(dir, threads, PROMPTS, tokens, runs);

  const plain = await loadEngine(dir, threads);
  const b0 = summarise(await repeat(runs, () => plain.single(PROMPTS[0], tokens)));
  console.error(`  (b0) engine in-process, plain export: ${b0.tokPerSec} tok/s`);
  await plain.release();

  // What `crucible model optimize` produces; the plain export when the graph cannot be fused.
  const fusedDir = join(mkdtempSync(join(tmpdir(), 'crb-fused-')), basename(dir));
  let crucibleDir = dir;
  try {
    await optimizeModel(dir, fusedDir, { id: basename(dir) }, threads);
    crucibleDir = fusedDir;
  } catch (err) {
    console.error(`  (fusing failed, measuring the plain export: ${(err as Error).message})`);
  }
  const engine = await loadEngine(crucibleDir, threads);
  const b = summarise(await repeat(runs, () => engine.single(PROMPTS[0], tokens)));
  console.error(`  (b) engine in-process: ${b.tokPerSec} tok/s`);
  await engine.release();
  // Right after (b), on the same warm graph: measured after the peers, whose threads may still spin, it read low.
  const floor = await loadFloor(crucibleDir, threads);
  await floor.single(8);
  const floor1 = summarise(await repeat(runs, () => floor.single(tokens)));
  const floor8 = summarise(await repeat(runs, () => floor.batch(tokens)));
  await floor.release();
  console.error(`  floor (bare session.run loop): ${floor1.tokPerSec} tok/s alone, ${floor8.tokPerSec} tok/s for 8`);
  const profile = values.profile ? await profileEngine(crucibleDir, threads, tokens, PROMPTS) : null;
  if (profile) console.error(`  profile, ms per decode step: 1 sequence ${JSON.stringify(profile.one)}; 8 sequences ${JSON.stringify(profile.eight)}`);
  const grammar = await benchGrammar(crucibleDir, threads, Math.min(tokens, 120), runs);
  console.error(`  grammar: ${grammar.constrainedStepMs} vs ${grammar.freeStepMs} ms a step at batch 8 (${grammar.ratio}x); compile median ${grammar.compileMedianMs} ms`);

  const agent = await startAgent(crucibleDir, threads);
  try {
    const c = summarise(await repeat(runs, () => agent.http(PROMPTS[0], tokens)));
    console.error(`  (c) HTTP single: ${c.tokPerSec} tok/s`);
    const d = summarise(await repeat(runs, () => agent.viaPipe(PROMPTS[0], tokens)));
    console.error(`  (d) pipe single: ${d.tokPerSec} tok/s`);
    const e = summarise(await repeat(runs, () => agent.concurrent(PROMPTS, tokens)));
    console.error(`  (e) HTTP 8 concurrent: ${e.tokPerSec} tok/s`);
    // A ~300-token opening where the context allows it (bench15m's is 256).
    const words = contextOf(dir) >= 512 ? 260 : Math.floor(contextOf(dir) * 0.35);
    const turns = { ...(await agent.secondTurn(words)), words };
    console.error(`  second turn: TTFT ${turns.secondMs.toFixed(1)} ms vs ${turns.firstMs.toFixed(1)} ms first (${turns.cached} tokens reused)`);
    const floatMemory = await agent.memoryBytes();
    const floatSession = await agent.sessionBytes();
    await agent.stop();

    const int4Dir = join(dirname(fusedDir), `${basename(dir)}-int4`);
    const q = await quantizeModel(dir, int4Dir, { id: basename(dir) }, { threads });
    console.error(`  int4: ${(q.agreement * 100).toFixed(1)}% greedy agreement, ${mb(q.bytesBefore)} -> ${mb(q.bytesAfter)} MB`);
    const agent4 = await startAgent(int4Dir, threads);
    try {
      const g = summarise(await repeat(runs, () => agent4.http(PROMPTS[0], tokens)));
      console.error(`  (g) int4 HTTP single: ${g.tokPerSec} tok/s`);
      const h = summarise(await repeat(runs, () => agent4.concurrent(PROMPTS, tokens)));
      console.error(`  (h) int4 HTTP 8 concurrent: ${h.tokPerSec} tok/s`);
      return {
        model: dir, threads, fused: crucibleDir !== dir, figures: { a, b0, b, c, d, e, f, g, h, floor1, floor8 }, profile,
        memoryMb: {
          peer: mb(peerMemory), crucible: mb(floatMemory), int4: mb(await agent4.memoryBytes()),
          crucibleSession: mb(floatSession), int4Session: mb(await agent4.sessionBytes()),
        },
        int4: { agreement: q.agreement, mbBefore: mb(q.bytesBefore)!, mbAfter: mb(q.bytesAfter)! },
        grammar, turns, llamacpp,
      };
    } finally {
      await agent4.stop();
    }
  } finally {
    await agent.stop().catch(() => {});
    rmSync(dirname(fusedDir), { recursive: true, force: true });
  }
}

const LABELS: Record<string, string> = {
  a: '(a) transformers.js, 1 stream, in-process',
  b0: '(b0) Crucible engine on the plain export, 1 stream, in-process',
  b: '(b) Crucible engine, 1 stream, in-process',
  c: '(c) Crucible HTTP streaming, 1 stream',
  d: '(d) Crucible pipe, 1 stream',
  e: '(e) Crucible HTTP, 8 concurrent streams (aggregate)',
  f: '(f) transformers.js, static batch of 8 (aggregate)',
  g: '(g) Crucible HTTP, 1 stream, int4 form',
  h: '(h) Crucible HTTP, 8 concurrent streams, int4 form (aggregate)',
  floor1: 'floor: bare session.run loop on the same graph, 1 sequence',
  floor8: 'floor: bare session.run loop on the same graph, 8 sequences (aggregate)',
};

const pct = (x: Figure, of: Figure) => `${Math.round((x.tokPerSec / of.tokPerSec) * 100)}%`;

function table(results: ModelResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const base = r.figures.a.tokPerSec;
    lines.push(`\n${r.model.split('/').pop()} (greedy, ${tokens} new tokens, median of ${runs}, ${r.threads} thread(s); Crucible rows (b)-(e) on the ${r.fused ? 'fused graph of `crucible model optimize`' : 'plain export'})`);
    lines.push('| figure | tok/s | ratio to (a) | time to first token |');
    lines.push('| --- | ---: | ---: | ---: |');
    for (const k of ['floor1', 'floor8', 'a', 'b0', 'b', 'c', 'd', 'e', 'f', 'g', 'h'] as const) {
      const fig = r.figures[k];
      lines.push(`| ${LABELS[k]} | ${fig.tokPerSec} | ${(fig.tokPerSec / base).toFixed(2)}x | ${fig.ttftMs === null ? '-' : `${fig.ttftMs} ms`} |`);
    }
    lines.push(...llamaCppRows(r.llamacpp, r.figures.a, r.figures.c, r.figures.e));
    const { a, c, e, f, g, h } = r.figures;
    lines.push(`| (c)/(a), (e)/(c), (e)/(f) | | ${(c.tokPerSec / a.tokPerSec).toFixed(2)}x, ${(e.tokPerSec / c.tokPerSec).toFixed(2)}x, ${(e.tokPerSec / f.tokPerSec).toFixed(2)}x | |`);
    const { floor1, floor8, b: bb, d } = r.figures;
    lines.push(`| share of the floor: (b), (c), (d) of 1 sequence; (e) of 8 | | ${pct(bb, floor1)}, ${pct(c, floor1)}, ${pct(d, floor1)}; ${pct(e, floor8)} | |`);
    if (r.profile) {
      const fmt = (p: Record<string, number>) => Object.entries(p).map(([k, v]) => `${k} ${v}`).join(', ');
      lines.push(`| profile, ms per decode step, 1 sequence | ${fmt(r.profile.one)} | | |`);
      lines.push(`| profile, ms per decode step, 8 sequences | ${fmt(r.profile.eight)} | | |`);
    }
    lines.push(`| int4: (g)/(c), (h)/(g) | | ${(g.tokPerSec / c.tokPerSec).toFixed(2)}x, ${(h.tokPerSec / g.tokPerSec).toFixed(2)}x | |`);
    lines.push(`| int4 form | ${(r.int4.agreement * 100).toFixed(1)}% greedy agreement, weights ${r.int4.mbBefore} -> ${r.int4.mbAfter} MB | | |`);
    lines.push(`| second turn of a ${r.turns.words}-word conversation, time to first token vs the first turn's | ${r.turns.secondMs.toFixed(1)} vs ${r.turns.firstMs.toFixed(1)} ms (${(r.turns.secondMs / r.turns.firstMs * 100).toFixed(0)}%, ${r.turns.cached} prompt tokens reused) | | |`);
    lines.push(`| grammar: 8 sequences under a JSON Schema vs 8 free, ms per batched decode step | ${r.grammar.constrainedStepMs} vs ${r.grammar.freeStepMs} ms (${r.grammar.ratio}x) | | |`);
    lines.push(`| grammar compile time over the ${r.grammar.schemas}-schema test corpus | median ${r.grammar.compileMedianMs} ms, largest ${r.grammar.compileMaxMs} ms | | |`);
    lines.push(`| resident memory of the loaded model | transformers.js ${r.memoryMb.peer} MB, Crucible ${r.memoryMb.crucible} MB, Crucible int4 ${r.memoryMb.int4} MB | | |`);
    lines.push(`| of which the ONNX Runtime session (weights as held) | Crucible ${r.memoryMb.crucibleSession} MB, Crucible int4 ${r.memoryMb.int4Session} MB | | |`);
  }
  return lines.join('\n');
}

const machine = `${hostname()}: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const date = new Date().toISOString();
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
const stamp = date.slice(0, 19).replace(/:/g, '-');
if (values.ep === 'webgpu') {
  const adapter = await adapterOf();
  const results: WebGpuResult[] = [];
  for (const dir of values.models!.split(',')) {
    const d = resolve(dir);
    results.push(await benchWebGpu(d, threadsFor(onnxBytes(d), { threads: 0, replicas: 1 }), PROMPTS, tokens, runs));
  }
  console.log(`Crucible WebGPU benchmark, ${date}\n${machine}${webGpuTable(results, adapter, tokens, runs)}`);
  const json = JSON.stringify({ date, machine, ep: 'webgpu', adapter, tokens, runs, results }, null, 2);
  writeFileSync(join(ROOT, 'bench', 'results', `webgpu-${stamp}.json`), json);
  writeFileSync(join(ROOT, 'bench', 'results', 'webgpu-latest.json'), json);
} else if (values.ep !== 'cpu') {
  throw new Error(`--ep ${values.ep}: the benchmark measures cpu (default) or webgpu`);
} else {
  const results: ModelResult[] = [];
  for (const dir of values.models!.split(',')) results.push(await benchModel(resolve(dir)));
  console.log(`Crucible benchmark, ${date}\n${machine}${table(results)}`);
  const json = JSON.stringify({ date, machine, tokens, runs, results }, null, 2);
  writeFileSync(join(ROOT, 'bench', 'results', `${stamp}.json`), json);
  writeFileSync(join(ROOT, 'bench', 'results', 'latest.json'), json);
}
