import { MessageChannel } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import type { TranscriptSegment } from '../protocol/audio.js';
import { CrucibleError } from '../protocol/errors.js';
import type { LoadedModelFacts, SpeechFacts, SpeechJob, SpeechTask, SpeechWorkerInit, WorkerTranscript } from '../protocol/worker-messages.js';
import type { SpeechRunner } from './model-runner.js';
import { type InFlight, closeModelPool, runTask, startModelPool } from './worker-pool.js';

const WORKER = fileURLToPath(new URL('../workers/speech-worker.js', import.meta.url));

/**
 * A speech model's piscina pool: each worker holds the Whisper sessions and runs one
 * transcription at a time. Aborting sets the task's shared flag, which the decoder checks between
 * steps, so the sessions survive a cancel.
 */
export class PiscinaSpeechRunner implements SpeechRunner {
  readonly kind = 'speech' as const;
  private readonly active = new Set<InFlight>();
  private closing: Promise<void> | null = null;

  private constructor(private readonly pool: Piscina, readonly facts: LoadedModelFacts) {}

  static async start(init: SpeechWorkerInit, replicas: number): Promise<PiscinaSpeechRunner> {
    const rss0 = process.memoryUsage().rss;
    const { pool, loaded } = await startModelPool<{ facts?: SpeechFacts }>(WORKER, init satisfies SpeechWorkerInit, replicas);
    const f = loaded.facts!;
    const facts: LoadedModelFacts = {
      contextLength: f.contextLength, vocabSize: f.vocabSize, numLayers: f.numLayers, executionProvider: 'cpu', layout: f.layout,
      memoryBytes: Math.max(0, process.memoryUsage().rss - rss0),
    };
    return new PiscinaSpeechRunner(pool, facts);
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
    try {
      const r = await runTask<{ transcript?: WorkerTranscript }>(this.pool, task, this.active, { flag, ...(channel ? { transferList: [channel.port2] } : {}) });
      await portDone;
      return r.transcript!;
    } finally {
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
    this.closing ??= closeModelPool(this.pool, this.active);
    return this.closing;
  }
}
