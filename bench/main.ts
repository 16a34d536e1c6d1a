/**
 * `npm run bench`: Crucible against transformers.js on the same model folders, in one run.
 *   (a) transformers.js, one stream, called directly (b) Crucible engine, one stream, called directly
 *   (c) Crucible over HTTP (SSE), one stream         (d) Crucible over the pipe, one stream
 *   (e) Crucible, 8 concurrent HTTP streams          (f) transformers.js, static batch of 8
 *   (g) Crucible HTTP, 1 stream, on the int4 form     (h) the same, 8 concurrent streams
 *   (i) llama.cpp on the same weights as F32 GGUF     (j) llama.cpp, 8 parallel sequences (bench/llamacpp.ts)
 *       (`crucible model optimize --int4`: MatMulNBits block 32, accuracy level 4)
 * Greedy, exactly N new tokens each. Everything timed is loaded at once, each library called
 * directly in a process of its own (bench/solo.ts), and run in interleaved rounds (each row once a
 * round, after a warm-up round); figures are medians over rounds, ratios medians of
 * the same round's ratios, so a swing of the machine's load moves a row and its peers together.
 * Then the embedding rows (bench/embeddings.ts): vectors per second, batch 1 and 32, Crucible and transformers.js.
 * And speech to text: the real-time factor on the tiny Whisper fixture (bench/speech.ts).
 * `--ep webgpu` measures instead each model on the WebGPU provider next to the CPU (bench/webgpu.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, hostname, tmpdir, totalmem } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { threadsFor } from '../agent/config.js';
import { optimizeModel } from '../workers/optimize/optimize-model.js';
import { quantizeModel } from '../workers/optimize/quantize-model.js';
import { type GrammarFigures, benchGrammar } from './grammar.js';
import { PROMPTS } from './prompts.js';
import { profileEngine } from './floor.js';
import { startAgent } from './crucible.js';
import { type LlamaCppFigures, type PreparedLlamaCpp, llamaCppRows } from './llamacpp.js';
import { startSolo } from './solo.js';
import { type WebGpuResult, adapterOf, benchWebGpu, webGpuTable } from './webgpu.js';
import { type Figure, type Sample, median, pairedRatio, rounds, summarise } from './stats.js';
import { benchEmbeddings, embeddingTable } from './embeddings.js';
import { benchSpeech, speechRows } from './speech.js';

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

const onnxBytes = (dir: string) => statSync(join(dir, 'onnx', 'model.onnx')).size;
const contextOf = (dir: string) => Number(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).max_position_embeddings ?? 256);
const mb = (b: number | null) => (b === null ? null : Math.round(b / 1e5) / 10);

interface ModelResult {
  model: string;
  threads: number;
  /** Whether Crucible ran the fused graph of `crucible model optimize` (else the plain export). */
  fused: boolean;
  figures: Record<'a' | 'b0' | 'b' | 'c' | 'd' | 'e' | 'f' | 'g' | 'h' | 'floor1' | 'floor8' | 'floorq1' | 'floorq8', Figure>;
  /** Intra-op threads of the int4 rows: the agent's own choice for that graph's size. */
  int4Threads: number;
  /** Medians over rounds of one row's throughput over another's in the same round (see `pairedRatio`). */
  ratios: Record<string, number>;
  profile: { one: Record<string, number>; eight: Record<string, number> } | null;
  memoryMb: { peer: number | null; crucible: number | null; int4: number | null; crucibleSession: number | null; int4Session: number | null };
  int4: { agreement: number; mbBefore: number; mbAfter: number };
  grammar: GrammarFigures;
  /** Time to first token of a conversation's second turn against its first (prefix reuse), medians. */
  turns: { firstMs: number; secondMs: number; cached: number; words: number };
  llamacpp: LlamaCppFigures;
}

/** Row pairs reported as ratios: [name, row, of row]. */
const RATIOS: [string, string, string][] = [
  ...(['floor1', 'floor8', 'floorq1', 'floorq8', 'b0', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'] as const).map((k): [string, string, string] => [`${k}/a`, k, 'a']),
  ['c/a', 'c', 'a'], ['e/c', 'e', 'c'], ['e/f', 'e', 'f'], ['b/floor1', 'b', 'floor1'], ['c/floor1', 'c', 'floor1'], ['d/floor1', 'd', 'floor1'],
  ['e/floor8', 'e', 'floor8'], ['g/floorq1', 'g', 'floorq1'], ['h/floorq8', 'h', 'floorq8'], ['g/c', 'g', 'c'], ['h/g', 'h', 'g'], ['c/i', 'c', 'i'], ['e/j', 'e', 'j'],
];

async function benchModel(dir: string): Promise<ModelResult> {
  const threads = threadsFor(onnxBytes(dir), { threads: 0, replicas: 1 });
  const name = basename(dir);
  console.error(`\n${dir} (${threads} intra-op thread${threads > 1 ? 's' : ''})`);
  // The graphs first: fusing and quantizing are CPU work that must not overlap anything timed.
  const work = mkdtempSync(join(tmpdir(), 'crb-bench-'));
  const fusedDir = join(work, name);
  let crucibleDir = dir;
  try {
    await optimizeModel(dir, fusedDir, { id: name }, threads);
    crucibleDir = fusedDir;
  } catch (err) {
    console.error(`  (fusing failed, measuring the plain export: ${(err as Error).message})`);
  }
  const int4Dir = join(work, `${name}-int4`);
  const q = await quantizeModel(dir, int4Dir, { id: name }, { threads });
  console.error(`  int4: ${(q.agreement * 100).toFixed(1)}% greedy agreement, ${mb(q.bytesBefore)} -> ${mb(q.bytesAfter)} MB`);
  const profile = values.profile ? await profileEngine(crucibleDir, threads, tokens, PROMPTS) : null;
  if (profile) console.error(`  profile, ms per decode step: 1 sequence ${JSON.stringify(profile.one)}; 8 sequences ${JSON.stringify(profile.eight)}`);
  const grammar = await benchGrammar(crucibleDir, threads, Math.min(tokens, 120), runs);
  console.error(`  grammar: ${grammar.constrainedStepMs} vs ${grammar.freeStepMs} ms a step at batch 8 (${grammar.ratio}x); compile median ${grammar.compileMedianMs} ms`);

  // Everything timed is loaded side by side, each in a process of its own (bench/solo.ts), then
  // run in interleaved rounds.
  const peer = await startSolo<{ memoryBytes: number }>('peer', dir, threads);
  const peerMemory = peer.info.memoryBytes;
  const llama = await startSolo<PreparedLlamaCpp['check']>('llama', dir, threads);
  const plain = await startSolo('engine', dir, threads);
  const engine = await startSolo('engine', crucibleDir, threads);
  const floor = await startSolo('floor', crucibleDir, threads);
  const agent = await startAgent(crucibleDir, threads);
  // The int4 rows run with the thread count the agent itself picks for that graph (a smaller one
  // gets fewer threads), and so does their floor.
  const int4Threads = threadsFor(onnxBytes(int4Dir), { threads: 0, replicas: 1 });
  const floor4 = await startSolo('floor', int4Dir, int4Threads);
  const agent4 = await startAgent(int4Dir, int4Threads);
  try {
    const samples = await rounds([
      { key: 'a', run: () => peer.call<Sample>('single', PROMPTS[0], tokens) },
      { key: 'f', run: () => peer.call<Sample>('batch', PROMPTS, tokens) },
      { key: 'i', run: () => llama.call<Sample>('single', PROMPTS[0], tokens) },
      { key: 'j', run: () => llama.call<Sample>('concurrent', PROMPTS, tokens) },
      { key: 'b0', run: () => plain.call<Sample>('single', PROMPTS[0], tokens) },
      { key: 'b', run: () => engine.call<Sample>('single', PROMPTS[0], tokens) },
      { key: 'floor1', run: () => floor.call<Sample>('single', tokens) },
      { key: 'floor8', run: () => floor.call<Sample>('batch', tokens) },
      { key: 'floorq1', run: () => floor4.call<Sample>('single', tokens) },
      { key: 'floorq8', run: () => floor4.call<Sample>('batch', tokens) },
      { key: 'c', run: () => agent.http(PROMPTS[0], tokens) },
      { key: 'd', run: () => agent.viaPipe(PROMPTS[0], tokens) },
      { key: 'e', run: () => agent.concurrent(PROMPTS, tokens) },
      { key: 'g', run: () => agent4.http(PROMPTS[0], tokens) },
      { key: 'h', run: () => agent4.concurrent(PROMPTS, tokens) },
    ], runs, (key, s) => console.error(`  ${key}: ${Math.round(s.tokens / s.seconds)} tok/s`));
    const figures = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarise(v)])) as Record<string, Figure>;
    const ratios = Object.fromEntries(RATIOS.map(([label, x, y]) => [label, Math.round(pairedRatio(samples[x], samples[y]) * 100) / 100]));
    // A ~300-token opening where the context allows it (bench15m's is 256); a new opening each
    // run, so no first turn finds the previous run's conversation cached.
    const words = contextOf(dir) >= 512 ? 260 : Math.floor(contextOf(dir) * 0.35);
    const turnRuns = [];
    for (let i = 0; i <= runs; i++) turnRuns.push(await agent.secondTurn(words, i));
    const measured = turnRuns.slice(1);
    const turns = {
      firstMs: median(measured.map((t) => t.firstMs)), secondMs: median(measured.map((t) => t.secondMs)),
      cached: Math.min(...measured.map((t) => t.cached)), words,
    };
    console.error(`  second turn: TTFT ${turns.secondMs.toFixed(1)} ms vs ${turns.firstMs.toFixed(1)} ms first (${turns.cached} tokens reused)`);
    return {
      model: dir, threads, int4Threads, fused: crucibleDir !== dir,
      figures: figures as ModelResult['figures'], ratios, profile,
      memoryMb: {
        peer: mb(peerMemory), crucible: mb(await agent.memoryBytes()), int4: mb(await agent4.memoryBytes()),
        crucibleSession: mb(await agent.sessionBytes()), int4Session: mb(await agent4.sessionBytes()),
      },
      int4: { agreement: q.agreement, mbBefore: mb(q.bytesBefore)!, mbAfter: mb(q.bytesAfter)! },
      grammar, turns, llamacpp: { ...llama.info, single: figures.i, parallel: figures.j },
    };
  } finally {
    await agent4.stop().catch(() => {});
    await agent.stop().catch(() => {});
    await Promise.all([floor4, floor, engine, plain, llama, peer].map((c) => c.close()));
    rmSync(work, { recursive: true, force: true });
  }
}

const LABELS: Record<string, string> = {
  a: '(a) transformers.js, 1 stream, called directly',
  b0: '(b0) Crucible engine on the plain export, 1 stream, called directly',
  b: '(b) Crucible engine, 1 stream, called directly',
  c: '(c) Crucible HTTP streaming, 1 stream',
  d: '(d) Crucible pipe, 1 stream',
  e: '(e) Crucible HTTP, 8 concurrent streams (aggregate)',
  f: '(f) transformers.js, static batch of 8 (aggregate)',
  g: '(g) Crucible HTTP, 1 stream, int4 form',
  h: '(h) Crucible HTTP, 8 concurrent streams, int4 form (aggregate)',
  floor1: 'floor: bare session.run loop on the same graph, 1 sequence',
  floor8: 'floor: bare session.run loop on the same graph, 8 sequences (aggregate)',
  floorq1: 'floor of the int4 form, 1 sequence',
  floorq8: 'floor of the int4 form, 8 sequences (aggregate)',
};

const pct = (r: number) => `${Math.round(r * 100)}%`;

function table(results: ModelResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const x = r.ratios;
    lines.push(`\n${r.model.split('/').pop()} (greedy, ${tokens} new tokens, median of ${runs} interleaved rounds, ${r.threads} thread(s); Crucible rows (b)-(e) on the ${r.fused ? 'fused graph of `crucible model optimize`' : 'plain export'})`);
    lines.push('| figure | tok/s | ratio to (a), same round | time to first token |');
    lines.push('| --- | ---: | ---: | ---: |');
    for (const k of ['floor1', 'floor8', 'floorq1', 'floorq8', 'a', 'b0', 'b', 'c', 'd', 'e', 'f', 'g', 'h'] as const) {
      const fig = r.figures[k];
      lines.push(`| ${LABELS[k]} | ${fig.tokPerSec} | ${k === 'a' ? '1.00' : x[`${k}/a`].toFixed(2)}x | ${fig.ttftMs === null ? '-' : `${fig.ttftMs} ms`} |`);
    }
    lines.push(...llamaCppRows(r.llamacpp, { i: x['i/a'], j: x['j/a'], ci: x['c/i'], ej: x['e/j'] }));
    lines.push(`| (c)/(a), (e)/(c), (e)/(f) | | ${x['c/a'].toFixed(2)}x, ${x['e/c'].toFixed(2)}x, ${x['e/f'].toFixed(2)}x | |`);
    lines.push(`| share of the floor: (b), (c), (d) of 1 sequence; (e) of 8 | | ${pct(x['b/floor1'])}, ${pct(x['c/floor1'])}, ${pct(x['d/floor1'])}; ${pct(x['e/floor8'])}; int4 (g) of its 1, (h) of its 8: ${pct(x['g/floorq1'])}, ${pct(x['h/floorq8'])} | |`);
    if (r.profile) {
      const fmt = (p: Record<string, number>) => Object.entries(p).map(([k, v]) => `${k} ${v}`).join(', ');
      lines.push(`| profile, ms per decode step, 1 sequence | ${fmt(r.profile.one)} | | |`);
      lines.push(`| profile, ms per decode step, 8 sequences | ${fmt(r.profile.eight)} | | |`);
    }
    lines.push(`| int4 (${r.int4Threads} thread(s)): (g)/(c), (h)/(g) | | ${x['g/c'].toFixed(2)}x, ${x['h/g'].toFixed(2)}x | |`);
    lines.push(`| int4 form | ${(r.int4.agreement * 100).toFixed(1)}% greedy agreement, weights ${r.int4.mbBefore} -> ${r.int4.mbAfter} MB | | |`);
    lines.push(`| second turn of a ${r.turns.words}-word conversation, time to first token vs the first turn's (medians) | ${r.turns.secondMs.toFixed(1)} vs ${r.turns.firstMs.toFixed(1)} ms (${(r.turns.secondMs / r.turns.firstMs * 100).toFixed(0)}%, ${r.turns.cached} prompt tokens reused) | | |`);
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
  // Embedding rows: stories260k's hidden states (the first model given) and the tiny encoder fixture.
  const embeddings = await benchEmbeddings(resolve(values.models!.split(',')[0]), 1, runs);
  // Speech to text on the tiny Whisper fixture (bench/speech.ts): its real-time factor.
  const speech = await benchSpeech(runs);
  const out = `${table(results)}${embeddingTable(embeddings, runs)}\n${speechRows(speech).join('\n')}`;
  console.log(`Crucible benchmark, ${date}\n${machine}${out}`);
  const json = JSON.stringify({ date, machine, tokens, runs, results, embeddings, speech }, null, 2);
  writeFileSync(join(ROOT, 'bench', 'results', `${stamp}.json`), json);
  writeFileSync(join(ROOT, 'bench', 'results', 'latest.json'), json);
}
