/**
 * Entry point of an embedding model's piscina worker: holds the model's session, tokenizes the
 * inputs and runs each batch as one forward pass, off the agent's thread.
 */
import { workerData } from 'node:worker_threads';
import { toCrucibleError } from '../protocol/errors.js';
import type { EmbeddingTask, EmbeddingWorkerInit, EmbeddingWorkerResult } from '../protocol/worker-messages.js';
import { type EmbeddingEngine, createEmbeddingEngine } from './embeddings/engine.js';

let engine: Promise<EmbeddingEngine> | null = null;

export default async function handle(task: EmbeddingTask): Promise<EmbeddingWorkerResult> {
  try {
    engine ??= createEmbeddingEngine(workerData as EmbeddingWorkerInit);
    const e = await engine;
    if (task.kind === 'load') return { ok: true, facts: e.facts };
    const { vectors, tokens } = await e.embed(task.inputs);
    return { ok: true, vectors, tokenCount: tokens };
  } catch (err) {
    return { ok: false, error: toCrucibleError(err).toBody() };
  }
}
