/**
 * Entry point of a speech model's piscina worker: holds the Whisper sessions, decodes uploads and
 * transcribes them. The engine is created inside the first task, so a model that fails to load
 * rejects that task instead of crashing the pool. Cancellation is cooperative: the agent sets the
 * task's shared flag and the decoder checks it between steps.
 */
import { workerData } from 'node:worker_threads';
import { toCrucibleError } from '../protocol/errors.js';
import type { SpeechTask, SpeechWorkerInit, SpeechWorkerResult } from '../protocol/worker-messages.js';
import { SpeechEngine } from './speech/engine.js';

const init = workerData as SpeechWorkerInit;
let engine: Promise<SpeechEngine> | null = null;

export default async function handle(task: SpeechTask): Promise<SpeechWorkerResult> {
  if (task.kind === 'crash') {
    // Thrown from a timer, never from inside a session.run: the thread dies as a real fault would.
    setTimeout(() => { throw new Error('simulated worker fault'); }, 0);
    return { ok: true };
  }
  try {
    engine ??= SpeechEngine.create(init.modelDir, init.intraOpThreads);
    const e = await engine;
    if (task.kind === 'load') return { ok: true, facts: e.facts };
    const flag = new Int32Array(task.cancel);
    const transcript = await e.transcribe(task.job, () => Atomics.load(flag, 0) !== 0,
      task.port ? (segments) => task.port!.postMessage({ segments }) : undefined);
    task.port?.postMessage({ done: true });
    task.port?.close();
    return { ok: true, transcript };
  } catch (err) {
    if (task.kind === 'transcribe') task.port?.close();
    return { ok: false, error: toCrucibleError(err).toBody() };
  }
}
