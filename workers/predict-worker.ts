/**
 * Entry point of a predictive model's piscina worker: holds the model's sessions, decodes the
 * images it is sent (off the agent's thread) and runs the task's pipeline.
 */
import { workerData } from 'node:worker_threads';
import { toCrucibleError } from '../protocol/errors.js';
import type { PredictTask, PredictWorkerInit, PredictWorkerResult } from '../protocol/worker-messages.js';
import { PredictEngine } from './predict/engine.js';

const init = workerData as PredictWorkerInit;
let engine: Promise<PredictEngine> | null = null;

export default async function handle(task: PredictTask): Promise<PredictWorkerResult> {
  try {
    engine ??= PredictEngine.create(init.modelDir, init.name, init.intraOpThreads, init.maxPixels);
    const e = await engine;
    if (task.kind === 'load') return { ok: true, metadata: e.metadata };
    return { ok: true, predictions: await e.predict(task.items) };
  } catch (err) {
    return { ok: false, error: toCrucibleError(err).toBody() };
  }
}
