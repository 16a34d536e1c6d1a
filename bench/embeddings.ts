/**
 * Embedding rows of the benchmark: vectors per second for one input a request and for 32 inputs
 * in one request (one padded batch), through Crucible's HTTP API (base64, as the openai client
 * asks) and through transformers.js' feature-extraction pipeline on the same files, in-process.
 * Models: stories260K's hidden states (Foundry's way: end token, last position) and the repo's
 * tiny BERT encoder (mean pooling, normalized). `node build/bench/embeddings.js [--runs N]`
 * runs these rows alone; bench/main.ts runs them after the generation rows.
 */
import { pipeline, env } from '@huggingface/transformers';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeTinyEncoder } from '../test/helpers/encoder-models.js';
import { writeHiddenStatesReference } from '../test/helpers/hidden-states-reference.js';
import { startAgent } from './crucible.js';
import { type Sample, median, pairedRatio, rounds } from './stats.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SUBJECTS = ['The little dog', 'Lily', 'Tom and his mom', 'A happy bird', 'The old tree', 'A red ball', 'The sun', 'Grandpa'];
const ACTIONS = ['ran to the park to play', 'sat on the mat and smiled', 'went home after a long day', 'found a big box in the garden'];
/** 32 different sentences of 6 to 11 words. */
export const EMBED_TEXTS = Array.from({ length: 32 }, (_, i) => `${SUBJECTS[i % 8]} ${ACTIONS[Math.floor(i / 8)]}.`);

export interface EmbeddingRow {
  model: string;
  threads: number;
  /** Vectors per second: Crucible over HTTP, transformers.js in-process; batch of 1 and of 32. */
  crucible1: number;
  crucible32: number;
  peer1: number;
  peer32: number;
  /** Crucible over transformers.js, medians of the same round's ratios. */
  ratio1: number;
  ratio32: number;
}

const rate = (samples: Sample[]) => Math.round(median(samples.map((s) => s.tokens / s.seconds)));

async function timed(n: number, fn: () => Promise<unknown>): Promise<Sample> {
  const t0 = performance.now();
  await fn();
  return { tokens: n, seconds: (performance.now() - t0) / 1000, ttftMs: null };
}

/**
 * One model's row: `peerDir` is the folder transformers.js reads (the same ONNX file). Both are
 * loaded at once and timed in interleaved rounds (bench/stats.ts `rounds`), so a swing of the
 * machine's load moves a row and its peer together.
 */
async function row(label: string, modelDir: string, peerDir: string, peerPooling: 'mean' | 'last_token', threads: number, runs: number): Promise<EmbeddingRow> {
  const agent = await startAgent(modelDir, threads);
  try {
    const name = basename(modelDir);
    const post = async (input: string | string[]) => {
      const res = await fetch(`${agent.url}/v1/embeddings`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: name, input, encoding_format: 'base64' }),
      });
      if (res.status !== 200) throw new Error(`embeddings: ${res.status} ${await res.text()}`);
      await res.json();
    };
    env.allowRemoteModels = false;
    env.localModelPath = `${dirname(peerDir)}/`;
    const extractor = await pipeline('feature-extraction', basename(peerDir), {
      dtype: 'fp32', device: 'cpu', session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
    } as any);
    try {
      const eight = EMBED_TEXTS.slice(0, 8);
      const s = await rounds([
        // Batch of 1: eight requests one after another, each one text.
        { key: 'crucible1', run: () => timed(8, async () => { for (const x of eight) await post(x); }) },
        { key: 'peer1', run: () => timed(8, async () => { for (const x of eight) await extractor(x, { pooling: peerPooling, normalize: true }); }) },
        { key: 'crucible32', run: () => timed(32, () => post(EMBED_TEXTS)) },
        // Its last_token pooling ignores padding, so its batch is timed with mean pooling (the same forward pass).
        { key: 'peer32', run: () => timed(32, () => extractor(EMBED_TEXTS, { pooling: 'mean', normalize: true })) },
      ], runs);
      const r: EmbeddingRow = {
        model: label, threads, crucible1: rate(s.crucible1), crucible32: rate(s.crucible32), peer1: rate(s.peer1), peer32: rate(s.peer32),
        ratio1: Math.round(pairedRatio(s.crucible1, s.peer1) * 100) / 100, ratio32: Math.round(pairedRatio(s.crucible32, s.peer32) * 100) / 100,
      };
      console.error(`  ${label}: Crucible ${r.crucible1} / ${r.crucible32} vectors/s (batch 1 / 32), transformers.js ${r.peer1} / ${r.peer32}`);
      return r;
    } finally {
      await extractor.dispose();
    }
  } finally {
    await agent.stop();
  }
}

/** Both models' rows, on folders written into a temporary directory. */
export async function benchEmbeddings(storiesDir: string, threads: number, runs: number): Promise<EmbeddingRow[]> {
  const root = mkdtempSync(join(tmpdir(), 'crb-emb-'));
  try {
    const encoder = writeTinyEncoder(join(root, 'tiny-bert-mean'), { pooling: 'mean' });
    const reference = writeHiddenStatesReference(join(root, 'peer', 'stories-hidden'), storiesDir);
    return [
      await row('stories260k (hidden states, last token)', storiesDir, reference, 'last_token', threads, runs),
      await row('tiny BERT encoder fixture (mean)', encoder, encoder, 'mean', threads, runs),
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export function embeddingTable(rows: EmbeddingRow[], runs: number): string {
  const lines = [`\nembeddings (vectors per second, median of ${runs} interleaved rounds; batch 1: one text a request, batch 32: one request of 32 texts)`,
    '| model | Crucible HTTP, batch 1 | transformers.js, batch 1 | ratio | Crucible HTTP, batch 32 | transformers.js, batch 32 | ratio |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |'];
  for (const r of rows) lines.push(`| ${r.model}, ${r.threads} thread(s) | ${r.crucible1} | ${r.peer1} | ${r.ratio1.toFixed(2)}x | ${r.crucible32} | ${r.peer32} | ${r.ratio32.toFixed(2)}x |`);
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, threads: { type: 'string', default: '1' } } });
  const runs = Number(values.runs);
  const rows = await benchEmbeddings(join(ROOT, 'models', 'stories260k'), Number(values.threads), runs);
  const machine = `${hostname()}: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const date = new Date().toISOString();
  console.log(`Crucible embedding benchmark, ${date}\n${machine}${embeddingTable(rows, runs)}`);
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'embeddings-latest.json'), JSON.stringify({ date, machine, runs, rows }, null, 2));
}
