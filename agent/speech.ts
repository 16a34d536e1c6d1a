import type { Transcript, TranscriptEvent, TranscriptSegment, TranscriptionRequest } from '../protocol/audio.js';
import { CrucibleError } from '../protocol/errors.js';
import type { SpeechJob } from '../protocol/worker-messages.js';
import type { Logger } from './log.js';
import type { SpeechRunner } from './model-runner.js';
import type { Lease } from './registry.js';
import { RequestControl } from './request-control.js';

export interface SpeechDeps {
  /** A lease on a model under the request's control (queued like any request). */
  acquire(name: string, ctl: RequestControl): Promise<Lease>;
  log: Logger;
  requestTimeoutMs: number;
  shutdown: AbortSignal;
}

/**
 * The agent's speech-to-text operations: a lease on the model (its queue, load on demand), the
 * upload handed to the model's worker (decoded and transcribed there), the request's cancellation
 * passed down as the worker's cancel flag.
 */
export class SpeechOps {
  constructor(private readonly deps: SpeechDeps) {}

  transcribe(req: TranscriptionRequest, signal?: AbortSignal): Promise<Transcript> {
    return this.run(req, signal);
  }

  /** Text deltas as each window's segments are decoded, then the whole transcript. */
  async *transcribeStream(req: TranscriptionRequest, signal?: AbortSignal): AsyncIterable<TranscriptEvent> {
    const queue: TranscriptEvent[] = [];
    let wake: (() => void) | null = null;
    let first = true;
    const push = (e: TranscriptEvent) => { queue.push(e); wake?.(); };
    const stop = new AbortController();
    const merged = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    let failure: unknown = null;
    let finished = false;
    const done = this.run(req, merged, (segments) => {
      for (const s of segments) {
        const text = first ? s.text.trimStart() : s.text;
        if (text) { push({ type: 'delta', text }); first = false; }
      }
    }).then((transcript) => push({ type: 'done', transcript }), (err: unknown) => { failure = err; wake?.(); })
      .finally(() => { finished = true; wake?.(); });
    try {
      while (true) {
        while (queue.length === 0 && failure === null && !finished) await new Promise<void>((r) => { wake = r; });
        wake = null;
        if (queue.length > 0) {
          const e = queue.shift()!;
          yield e;
          if (e.type === 'done') return;
          continue;
        }
        if (failure !== null) throw failure;
        if (finished) return;
      }
    } finally {
      // A consumer that stops reading stops the transcription too.
      stop.abort();
      await done;
    }
  }

  private async run(req: TranscriptionRequest, signal?: AbortSignal, onSegments?: (s: TranscriptSegment[]) => void): Promise<Transcript> {
    const ctl = new RequestControl(signal, this.deps.requestTimeoutMs, this.deps.shutdown);
    const t0 = performance.now();
    try {
      const lease = await this.deps.acquire(req.model, ctl);
      try {
        const runner = lease.runner;
        if (runner.kind !== 'speech') {
          throw new CrucibleError('invalid_request', `'${lease.entry.id}' is a ${lease.entry.task} model, not a speech-to-text model`, 'model');
        }
        const job: SpeechJob = {
          bytes: req.audio.bytes, filename: req.audio.filename, contentType: req.audio.contentType, task: req.task,
          language: req.language, prompt: req.prompt, temperature: req.temperature ?? 0,
          words: req.timestampGranularities?.includes('word') ?? false,
        };
        const out = await (runner as SpeechRunner).transcribe(job, onSegments, ctl.signal).catch((err: unknown) => {
          if (err instanceof CrucibleError && err.code === 'worker_crashed') lease.fail(err.message);
          if (err instanceof CrucibleError && err.code === 'cancelled') throw ctl.error(err);
          throw err;
        });
        const { windows, ...transcript } = out;
        this.deps.log.info({
          model: lease.entry.id, task: req.task, audioSeconds: transcript.duration, windows: windows.length,
          segments: transcript.segments.length, durationMs: Math.round(performance.now() - t0),
        }, 'transcription');
        return { model: lease.entry.id, ...transcript };
      } finally {
        lease.release();
      }
    } finally {
      ctl.dispose();
    }
  }
}
