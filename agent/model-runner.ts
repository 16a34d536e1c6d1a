import { MessageChannel } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ChatMessage, SamplingParams } from '../protocol/chat.js';
import { CrucibleError, fromErrorBody } from '../protocol/errors.js';
import type { ClassPrediction, ImageType, ModelMetadata, OcrPrediction } from '../protocol/predict.js';
import type { LoadedModelFacts, PromptInput, SpeechJob, WorkerEvent, WorkerInit, WorkerResult, WorkerTask, WorkerTranscript } from '../protocol/worker-messages.js';
import type { TranscriptSegment } from '../protocol/audio.js';

/** A loaded generative model: local workers, or an external server behind the same calls. */
export interface ChatRunner {
  readonly kind: 'chat';
  readonly facts: LoadedModelFacts;
  generate(input: PromptInput, sampling: SamplingParams, signal?: AbortSignal): AsyncIterable<WorkerEvent>;
  countTokens(messages: ChatMessage[]): Promise<number>;
  /** Sentence vectors of the inputs, and the tokens read. */
  embed(inputs: (string | number[])[], pooling: 'last' | 'mean'): Promise<{ vectors: Float32Array[]; tokens: number }>;
  close(): Promise<void>;
}

/** A loaded predictive model (classifier, OCR). */
export interface PredictRunner {
  readonly kind: 'predict';
  readonly facts: LoadedModelFacts;
  readonly metadata: ModelMetadata;
  predict(items: { contentType: ImageType; bytes: Uint8Array }[]): Promise<(OcrPrediction | ClassPrediction)[]>;
  close(): Promise<void>;
}

/** A loaded embedding model (encoder export, or a decoder exported for embeddings). */
export interface EmbeddingRunner {
  readonly kind: 'embeddings';
  readonly facts: LoadedModelFacts;
  /** Sentence vectors of the inputs, pooled as the model's folder says, and the tokens read. */
  embed(inputs: (string | number[])[]): Promise<{ vectors: Float32Array[]; tokens: number }>;
  close(): Promise<void>;
}

/** A loaded speech-to-text model (Whisper); see agent/speech-runner.ts. */
export interface SpeechRunner {
  readonly kind: 'speech';
  readonly facts: LoadedModelFacts;
  /** Transcribes one upload; `onSegments` gets each window's segments as they are decoded. */
  transcribe(job: SpeechJob, onSegments?: (segments: TranscriptSegment[]) => void, signal?: AbortSignal): Promise<WorkerTranscript>;
  close(): Promise<void>;
}

/** What the registry holds for a loaded model. */
export type Runner = ChatRunner | PredictRunner | EmbeddingRunner | SpeechRunner;

export interface RunnerOptions extends WorkerInit {
  replicas: number;
}

const WORKER = fileURLToPath(new URL('../workers/llm-worker.js', import.meta.url));

/**
 * A model's piscina pool: `replicas` worker threads, each holding its own session and accepting up
 * to `maxBatch` concurrent generations that it decodes together.
 */
export class PiscinaRunner implements ChatRunner {
  readonly kind = 'chat' as const;
  /** Generations in flight: their cancel flags and when they settle. */
  private readonly active = new Set<{ flag: Int32Array; settled: Promise<unknown> }>();
  private closing: Promise<void> | null = null;

  private constructor(private readonly pool: Piscina, readonly facts: LoadedModelFacts) {}

  static async start(opts: RunnerOptions): Promise<PiscinaRunner> {
    const { replicas, ...init } = opts;
    const pool = new Piscina({
      filename: WORKER,
      workerData: init satisfies WorkerInit,
      minThreads: replicas,
      maxThreads: replicas,
      concurrentTasksPerWorker: init.maxBatch,
      idleTimeout: Number.POSITIVE_INFINITY,
      // A worker that dies must not take the agent down; its tasks reject instead.
      recordTiming: false,
    });
    pool.on('error', () => {});
    try {
      const result = await pool.run({ kind: 'load' } satisfies WorkerTask) as WorkerResult;
      if (!result.ok) throw fromErrorBody(result.error);
      return new PiscinaRunner(pool, result.facts!);
    } catch (err) {
      await pool.destroy().catch(() => {});
      throw err instanceof CrucibleError ? err : new CrucibleError('model_load_failed', `the model worker failed to start: ${(err as Error).message}`);
    }
  }

  async embed(inputs: (string | number[])[], pooling: 'last' | 'mean'): Promise<{ vectors: Float32Array[]; tokens: number }> {
    const result = await this.pool.run({ kind: 'embed', inputs, pooling } satisfies WorkerTask) as WorkerResult;
    if (!result.ok) throw fromErrorBody(result.error);
    return { vectors: result.vectors!, tokens: result.tokenCount! };
  }

  async countTokens(messages: ChatMessage[]): Promise<number> {
    const result = await this.pool.run({ kind: 'count', messages } satisfies WorkerTask) as WorkerResult;
    if (!result.ok) throw fromErrorBody(result.error);
    return result.tokenCount!;
  }

  /**
   * Streams a generation's events. Aborting sets the shared flag the worker checks between decode
   * steps, so the session survives; the stream then ends with a `cancelled` error event.
   */
  async *generate(input: PromptInput, sampling: SamplingParams, signal?: AbortSignal): AsyncIterable<WorkerEvent> {
    const { port1, port2 } = new MessageChannel();
    const cancel = new SharedArrayBuffer(4);
    const flag = new Int32Array(cancel);
    const onAbort = () => Atomics.store(flag, 0, 1);
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });

    const queue: WorkerEvent[] = [];
    let wake: (() => void) | null = null;
    let ended = false;
    const push = (e: WorkerEvent) => {
      if (ended) return;
      if (e.type === 'done' || e.type === 'error') ended = true;
      queue.push(e);
      wake?.();
    };
    port1.on('message', push);
    const task: WorkerTask = Array.isArray(input)
      ? { kind: 'generate', messages: input, sampling, port: port2, cancel }
      : 'text' in input ? { kind: 'generate', messages: [], text: input.text, sampling, port: port2, cancel }
      : { kind: 'generate', messages: input.messages, tools: input.tools, sampling, port: port2, cancel };
    // The task promise can settle before the last port message arrives; only a rejection (the
    // worker died) ends the stream from here.
    if (this.closing) {
      yield { type: 'error', error: new CrucibleError('shutting_down', 'the model is being unloaded').toBody() };
      return;
    }
    const settled = this.pool.run(task, { transferList: [port2] }).catch((err: Error) => {
      setImmediate(() => push({ type: 'error', error: new CrucibleError('worker_crashed', `the model worker stopped: ${err.message}`).toBody() }));
    });
    const handle = { flag, settled };
    this.active.add(handle);
    void settled.finally(() => this.active.delete(handle));
    try {
      while (true) {
        while (queue.length === 0) await new Promise<void>((r) => { wake = r; });
        wake = null;
        let e = queue.shift()!;
        // A consumer that falls behind gets the backlog as one delta instead of many small ones.
        while (e.type === 'delta' && queue[0]?.type === 'delta') e = { type: 'delta', text: e.text + (queue.shift() as { text: string }).text };
        if (e.type === 'error' && e.error.code === 'cancelled' && this.closing && !signal?.aborted) {
          e = { type: 'error', error: new CrucibleError('shutting_down', 'the model was unloaded while generating').toBody() };
        }
        yield e;
        if (e.type === 'done' || e.type === 'error') return;
      }
    } finally {
      // Stopping early (consumer gone) must stop the worker too.
      if (!ended) onAbort();
      signal?.removeEventListener('abort', onAbort);
      port1.close();
    }
  }

  /** Diagnostics: kills the worker thread with an uncaught exception, as a real fault would. */
  async crashWorker(): Promise<void> {
    await this.pool.run({ kind: 'crash' } satisfies WorkerTask);
  }

  /**
   * Stops the workers. Terminating a thread while it is inside session.run aborts the whole
   * process (onnxruntime-node throws into a dying environment), so generations are first
   * cancelled and allowed to finish their current step.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const a of this.active) Atomics.store(a.flag, 0, 1);
      const all = Promise.allSettled([...this.active].map((a) => a.settled));
      await Promise.race([all, new Promise((r) => setTimeout(r, 15_000).unref())]);
      await this.pool.destroy();
    })();
    return this.closing;
  }
}
