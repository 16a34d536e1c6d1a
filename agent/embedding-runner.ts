import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import { CrucibleError } from '../protocol/errors.js';
import type { EmbeddingTask, EmbeddingWorkerInit, LoadedModelFacts } from '../protocol/worker-messages.js';
import type { EmbeddingRunner } from './model-runner.js';
import { type InFlight, closeModelPool, runTask, startModelPool } from './worker-pool.js';

const WORKER = fileURLToPath(new URL('../workers/embedding-worker.js', import.meta.url));

/** An embedding model's piscina pool: each worker holds the model's session and runs one batch at a time. */
export class PiscinaEmbeddingRunner implements EmbeddingRunner {
  readonly kind = 'embeddings' as const;
  private readonly active = new Set<InFlight>();
  private closing: Promise<void> | null = null;

  private constructor(private readonly pool: Piscina, readonly facts: LoadedModelFacts) {}

  static async start(init: EmbeddingWorkerInit, replicas: number): Promise<PiscinaEmbeddingRunner> {
    const { pool, loaded } = await startModelPool<{ facts?: LoadedModelFacts }>(WORKER, init satisfies EmbeddingWorkerInit, replicas);
    return new PiscinaEmbeddingRunner(pool, loaded.facts!);
  }

  async embed(inputs: (string | number[])[]): Promise<{ vectors: Float32Array[]; tokens: number }> {
    if (this.closing) throw new CrucibleError('shutting_down', 'the model is being unloaded');
    const r = await runTask<{ vectors?: Float32Array[]; tokenCount?: number }>(this.pool, { kind: 'embed', inputs } satisfies EmbeddingTask, this.active);
    return { vectors: r.vectors!, tokens: r.tokenCount! };
  }

  /** Lets running batches finish (a thread must not die inside ONNX Runtime), then stops. */
  close(): Promise<void> {
    this.closing ??= closeModelPool(this.pool, this.active);
    return this.closing;
  }
}
