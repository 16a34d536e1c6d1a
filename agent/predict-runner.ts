import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { CrucibleError, fromErrorBody } from '../protocol/errors.js';
import type { ClassPrediction, ImageType, ModelMetadata, OcrPrediction } from '../protocol/predict.js';
import type { LoadedModelFacts, PredictTask, PredictWorkerInit, PredictWorkerResult } from '../protocol/worker-messages.js';
import type { PredictRunner } from './model-runner.js';

const WORKER = fileURLToPath(new URL('../workers/predict-worker.js', import.meta.url));

/** A predictive model's piscina pool: each worker holds the model's sessions. */
export class PiscinaPredictRunner implements PredictRunner {
  readonly kind = 'predict' as const;
  private readonly active = new Set<Promise<unknown>>();
  private closing: Promise<void> | null = null;

  private constructor(private readonly pool: Piscina, readonly facts: LoadedModelFacts, readonly metadata: ModelMetadata) {}

  static async start(init: PredictWorkerInit, replicas: number): Promise<PiscinaPredictRunner> {
    const pool = new Piscina({
      filename: WORKER, workerData: init satisfies PredictWorkerInit, minThreads: replicas, maxThreads: replicas,
      concurrentTasksPerWorker: 1, idleTimeout: Number.POSITIVE_INFINITY,
    });
    pool.on('error', () => {});
    const rss0 = process.memoryUsage().rss;
    try {
      const r = await pool.run({ kind: 'load' } satisfies PredictTask) as PredictWorkerResult;
      if (!r.ok) throw fromErrorBody(r.error);
      const facts: LoadedModelFacts = {
        contextLength: 0, vocabSize: 0, numLayers: 0, executionProvider: 'cpu', layout: 'hf',
        memoryBytes: Math.max(0, process.memoryUsage().rss - rss0),
      };
      return new PiscinaPredictRunner(pool, facts, r.metadata!);
    } catch (err) {
      await pool.destroy().catch(() => {});
      throw err instanceof CrucibleError ? err : new CrucibleError('model_load_failed', `the model worker failed to start: ${(err as Error).message}`);
    }
  }

  async predict(items: { contentType: ImageType; bytes: Uint8Array }[]): Promise<(OcrPrediction | ClassPrediction)[]> {
    if (this.closing) throw new CrucibleError('shutting_down', 'the model is being unloaded');
    const run = this.pool.run({ kind: 'predict', items } satisfies PredictTask) as Promise<PredictWorkerResult>;
    this.active.add(run);
    try {
      const r = await run.catch((err: Error) => {
        throw new CrucibleError('worker_crashed', `the model worker stopped: ${err.message}`);
      });
      if (!r.ok) throw fromErrorBody(r.error);
      return r.predictions!;
    } finally {
      this.active.delete(run);
    }
  }

  /** Lets running predictions finish (a thread must not die inside ONNX Runtime), then stops. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.race([Promise.allSettled([...this.active]), new Promise((r) => setTimeout(r, 15_000).unref())]);
      await this.pool.destroy();
    })();
    return this.closing;
  }
}
