import { MessageChannel } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { TranscriptSegment } from '../protocol/audio.js';
import { CrucibleError, fromErrorBody } from '../protocol/errors.js';
import type { LoadedModelFacts, SpeechJob, SpeechTask, SpeechWorkerInit, SpeechWorkerResult, WorkerTranscript } from '../protocol/worker-messages.js';
import type { SpeechRunner } from './model-runner.js';

const WORKER = fileURLToPath(new URL('../workers/speech-worker.js', import.meta.url));

/**
 * A speech model's piscina pool: each worker holds the Whisper sessions and runs one
 * transcription at a time. Aborting sets the task's shared flag, which the decoder checks between
 * steps, so the sessions survive a cancel.
 */
export class PiscinaSpeechRunner implements SpeechRunner {
  readonly kind = 'speech' as const;
  private readonly active = new Set<{ flag: Int32Array; settled: Promise<unknown> }>();
  private closing: Promise<void> | null = null;

  private constructor(private readonly pool: Piscina, readonly facts: LoadedModelFacts) {}

  static async start(init: SpeechWorkerInit, replicas: number): Promise<PiscinaSpeechRunner> {
    const pool = new Piscina({
      filename: WORKER, workerData: init satisfies SpeechWorkerInit, minThreads: replicas, maxThreads: replicas,
      concurrentTasksPerWorker: 1, idleTimeout: Number.POSITIVE_INFINITY,
    });
    // A worker that dies must not take the agent down; its task rejects instead.
    pool.on('error', () => {});
    const rss0 = process.memoryUsage().rss;
    try {
      const r = await pool.run({ kind: 'load' } satisfies SpeechTask) as SpeechWorkerResult;
      if (!r.ok) throw fromErrorBody(r.error);
      const f = r.facts!;
      const facts: LoadedModelFacts = {
        contextLength: f.contextLength, vocabSize: f.vocabSize, numLayers: f.numLayers, executionProvider: 'cpu', layout: f.layout,
        memoryBytes: Math.max(0, process.memoryUsage().rss - rss0),
      };
      return new PiscinaSpeechRunner(pool, facts);
    } catch (err) {
      await pool.destroy().catch(() => {});
      throw err instanceof CrucibleError ? err : new CrucibleError('model_load_failed', `the model worker failed to start: ${(err as Error).message}`);
    }
  }

  async transcribe(job: SpeechJob, onSegments?: (segments: TranscriptSegment[]) => void, signal?: AbortSignal): Promise<WorkerTranscript> {
    if (this.closing) throw new CrucibleError('shutting_down', 'the model is being unloaded');
    const cancel = new SharedArrayBuffer(4);
    const flag = new Int32Array(cancel);
    const onAbort = () => Atomics.store(flag, 0, 1);
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const channel = onSegments ? new MessageChannel() : null;
    // Segments arrive on the port; the task can settle before the last of them, so the answer
    // waits for the port's closing message too.
    const portDone = new Promise<void>((resolve) => {
      if (!channel) return resolve();
      channel.port1.on('message', (m: { segments?: TranscriptSegment[]; done?: true }) => {
        if (m.segments) onSegments!(m.segments);
        if (m.done) resolve();
      });
      channel.port1.on('close', () => resolve());
    });
    const task: SpeechTask = { kind: 'transcribe', job, cancel, ...(channel ? { port: channel.port2 } : {}) };
    const run = this.pool.run(task, channel ? { transferList: [channel.port2] } : {}) as Promise<SpeechWorkerResult>;
    const handle = { flag, settled: run.catch(() => {}) };
    this.active.add(handle);
    try {
      const r = await run.catch((err: Error) => {
        throw new CrucibleError('worker_crashed', `the model worker stopped: ${err.message}`);
      });
      if (!r.ok) throw fromErrorBody(r.error);
      await portDone;
      return r.transcript!;
    } finally {
      this.active.delete(handle);
      signal?.removeEventListener('abort', onAbort);
      channel?.port1.close();
    }
  }

  /** Diagnostics: kills the worker thread with an uncaught exception, as a real fault would. */
  async crashWorker(): Promise<void> {
    await this.pool.run({ kind: 'crash' } satisfies SpeechTask);
  }

  /** Cancels running transcriptions (a thread must not die inside ONNX Runtime), lets them stop, then stops. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const a of this.active) Atomics.store(a.flag, 0, 1);
      await Promise.race([Promise.allSettled([...this.active].map((a) => a.settled)), new Promise((r) => setTimeout(r, 15_000).unref())]);
      await this.pool.destroy();
    })();
    return this.closing;
  }
}
