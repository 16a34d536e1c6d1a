import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { CrucibleError, fromErrorBody } from '../protocol/errors.js';
import type { EmbeddingTask, EmbeddingWorkerInit, EmbeddingWorkerResult, LoadedModelFacts } from '../protocol/worker-messages.js';
import type { EmbeddingRunner } from './model-runner.js';

const WORKER = fileURLToPath(new URL('../workers/embedding-worker.js', import.meta.url));

/** An embedding model's piscina pool: each worker holds the model's session and runs one batch at a time. */
export class PiscinaEmbeddingRunner implements EmbeddingRunner {
  readonly kind = 'embeddings' as const;
  private readonly active = new Set<Promise<unknown>>();
  private closing: Promise<void> | null = null;

  private constructor(private readonly pool: Piscina, readonly facts: LoadedModelFacts) {}

  static async start(init: EmbeddingWorkerInit, replicas: number): Promise<PiscinaEmbeddingRunner> {
    const pool = new Piscina({
      filename: WORKER, workerData: init satisfies EmbeddingWorkerInit, minThreads: replicas, maxThreads: replicas,
      concurrentTasksPerWorker: 1, idleTimeout: Number.POSITIVE_INFINITY,
    });
    pool.on('error', () => {});
    try {
      const r = await pool.run({ kind: 'load' } satisfies EmbeddingTask) as EmbeddingWorkerResult;
      if (!r.ok) throw fromErrorBody(r.error);
      return new PiscinaEmbeddingRunner(pool, r.facts!);
    } catch (err) {
      await pool.destroy().catch(() => {});
      throw err instanceof CrucibleError ? err : new CrucibleError('model_load_failed', `the model worker failed to start: ${(err as Error).message}`);
    }
  }

  async embed(inputs: (string | number[])[]): Promise<{ vectors: Float32Array[]; tokens: number }> {
    if (this.closing) throw new CrucibleError('shutting_down', 'the model is being unloaded');
    const run = this.pool.run({ kind: 'embed', inputs } satisfies EmbeddingTask) as Promise<EmbeddingWorkerResult>;
    this.active.add(run);
    try {
      const r = await run.catch((err: Error) => {
        throw new CrucibleError('worker_crashed', `the model worker stopped: ${(err as Error).message}`);
      });
      if (!r.ok) throw fromErrorBody(r.error);
      return { vectors: r.vectors!, tokens: r.tokenCount! };
    } finally {
      this.active.delete(run);
    }
  }

  /** Lets running batches finish (a thread must not die inside ONNX Runtime), then stops. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.race([Promise.allSettled([...this.active]), new Promise((r) => setTimeout(r, 15_000).unref())]);
      await this.pool.destroy();
    })();
    return this.closing;
  }
}
