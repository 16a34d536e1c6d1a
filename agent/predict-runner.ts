import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import { CrucibleError } from '../protocol/errors.js';
import type { ClassPrediction, ImageType, ModelMetadata, OcrPrediction } from '../protocol/predict.js';
import type { LoadedModelFacts, PredictTask, PredictWorkerInit } from '../protocol/worker-messages.js';
import type { PredictRunner } from './model-runner.js';
import { type InFlight, closeModelPool, runTask, startModelPool } from './worker-pool.js';

const WORKER = fileURLToPath(new URL('../workers/predict-worker.js', import.meta.url));

/** A predictive model's piscina pool: each worker holds the model's sessions. */
export class PiscinaPredictRunner implements PredictRunner {
  readonly kind = 'predict' as const;
  private readonly active = new Set<InFlight>();
  private closing: Promise<void> | null = null;

  private constructor(private readonly pool: Piscina, readonly facts: LoadedModelFacts, readonly metadata: ModelMetadata) {}

  static async start(init: PredictWorkerInit, replicas: number): Promise<PiscinaPredictRunner> {
    const rss0 = process.memoryUsage().rss;
    const { pool, loaded } = await startModelPool<{ metadata?: ModelMetadata }>(WORKER, init satisfies PredictWorkerInit, replicas);
    const facts: LoadedModelFacts = {
      contextLength: 0, vocabSize: 0, numLayers: 0, executionProvider: 'cpu', layout: 'hf',
      memoryBytes: Math.max(0, process.memoryUsage().rss - rss0),
    };
    return new PiscinaPredictRunner(pool, facts, loaded.metadata!);
  }

  async predict(items: { contentType: ImageType; bytes: Uint8Array }[]): Promise<(OcrPrediction | ClassPrediction)[]> {
    if (this.closing) throw new CrucibleError('shutting_down', 'the model is being unloaded');
    const r = await runTask<{ predictions?: (OcrPrediction | ClassPrediction)[] }>(this.pool, { kind: 'predict', items } satisfies PredictTask, this.active);
    return r.predictions!;
  }

  /** Lets running predictions finish (a thread must not die inside ONNX Runtime), then stops. */
  close(): Promise<void> {
    this.closing ??= closeModelPool(this.pool, this.active);
    return this.closing;
  }
}
