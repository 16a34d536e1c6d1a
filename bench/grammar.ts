import { Engine } from '../workers/engine/engine.js';
import type { SamplingParams } from '../protocol/chat.js';
import type { GrammarSpec } from '../protocol/grammar.js';
import { PROMPTS } from './prompts.js';
import { SCHEMAS } from '../test/agent/structured/schemas.js';


/** A grammar that leaves room for long outputs, so constrained and free runs decode alike. */
const LONG: GrammarSpec = { kind: 'json_schema', strict: true, schema: { type: 'array', items: { type: 'string', maxLength: 24 }, minItems: 64, maxItems: 64 } };

export interface GrammarFigures {
  /** Milliseconds per batched decode step with 8 sequences, free and under a JSON Schema. */
  freeStepMs: number;
  constrainedStepMs: number;
  ratio: number;
  /** Median and largest compile time over the test corpus's schemas, in ms. */
  compileMedianMs: number;
  compileMaxMs: number;
  schemas: number;
}

async function batch(engine: Engine, tokens: number, grammar?: GrammarSpec): Promise<number> {
  const sampling: SamplingParams = { temperature: 0, topP: 1, topK: 0, presencePenalty: 0, frequencyPenalty: 0, maxTokens: tokens, stop: [], ignoreEos: true, ...(grammar ? { grammar } : {}) };
  let steps = 0;
  const t0 = performance.now();
  await Promise.all(PROMPTS.map((p) => engine.generate({
    messages: [{ role: 'user', content: p }], sampling, cancel: new SharedArrayBuffer(4),
    emit: (e) => { if (e.type === 'done') steps = Math.max(steps, e.completionTokens); },
  })));
  return (performance.now() - t0) / Math.max(1, steps);
}

/** Decode-step cost of grammar masks in a batch of 8 on one model, and compile times. */
export async function benchGrammar(modelDir: string, threads: number, tokens: number, runs: number): Promise<GrammarFigures> {
  const engine = await Engine.create({ modelDir, executionProvider: 'cpu', intraOpThreads: threads, maxBatch: 8, prefillChunk: 128 });
  try {
    await batch(engine, 8);
    await batch(engine, 8, LONG);
    const free: number[] = [];
    const constrained: number[] = [];
    for (let r = 0; r < runs; r++) {
      free.push(await batch(engine, tokens));
      constrained.push(await batch(engine, tokens, LONG));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const before = engine.grammars.compileMs.length;
    for (const schema of SCHEMAS) (await engine.grammars.constraint({ kind: 'json_schema', schema, strict: true })).dispose();
    const compiles = engine.grammars.compileMs.slice(before);
    const f = median(free);
    const c = median(constrained);
    return {
      freeStepMs: Math.round(f * 100) / 100, constrainedStepMs: Math.round(c * 100) / 100, ratio: Math.round((c / f) * 100) / 100,
      compileMedianMs: Math.round(median(compiles) * 10) / 10, compileMaxMs: Math.round(Math.max(...compiles) * 10) / 10, schemas: compiles.length,
    };
  } finally {
    await engine.release();
  }
}
