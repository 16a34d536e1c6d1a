import type { SamplingParams } from '../../protocol/chat.js';
import type { WorkerEvent } from '../../protocol/worker-messages.js';
import type ort from 'onnxruntime-node';
import { Sampler } from './sampler.js';
import { StopMatcher } from './stop-matcher.js';
import type { StreamDecoder } from './text-codec.js';
import type { Constraint } from './grammar/constraints.js';

/** One request's generation state inside the worker. */
export class Sequence {
  readonly sampler: Sampler;
  readonly stops: StopMatcher;
  /** Own cache while prefilling; null once it has joined the batch. */
  cache: ort.Tensor[] | null;
  /** Positions already in the KV cache. */
  pos = 0;
  /** Prompt tokens not yet prefilled start here. */
  prefilled = 0;
  lastToken = -1;
  generated = 0;
  /** Generated tokens already fed through the model: with the prompt, what the KV cache holds. */
  readonly fed: number[] = [];
  /** Ended normally (done), so its cache may be kept for prefix reuse. */
  ok = false;
  done = false;
  private readonly cancelFlag: Int32Array;
  /** The grammar had to mask this sequence's last token (its next one is likely to need it too). */
  maskedLast = false;
  /** Alternatives to report with each token's log-probability; undefined when not asked. */
  readonly logprobs: number | undefined;
  private readonly ignoreEos: boolean;

  constructor(
    readonly prompt: number[],
    readonly budget: number,
    sampling: SamplingParams,
    readonly decoder: StreamDecoder,
    emptyCache: ort.Tensor[],
    cancel: SharedArrayBuffer,
    readonly emit: (e: WorkerEvent) => void,
    readonly settle: () => void,
    /** The grammar this sequence's output must match, if any. */
    readonly constraint: Constraint | null = null,
  ) {
    this.logprobs = sampling.logprobs;
    this.sampler = new Sampler(sampling);
    this.stops = new StopMatcher(sampling.stop);
    this.cache = emptyCache;
    this.cancelFlag = new Int32Array(cancel);
    this.ignoreEos = sampling.ignoreEos;
  }

  get cancelled(): boolean {
    return Atomics.load(this.cancelFlag, 0) !== 0;
  }

  finish(event: WorkerEvent): void {
    if (this.done) return;
    this.done = true;
    this.ok = event.type === 'done';
    this.cache = null;
    this.constraint?.dispose();
    this.emit(event);
    this.settle();
  }

  /**
   * Takes a sampled token: emits its text, or ends the sequence on an end-of-text id, a stop
   * string or the token budget.
   */
  accept(token: number, eos: ReadonlySet<number>): void {
    // A grammar that is complete ends the output even when end-of-text ids are ignored.
    if (eos.has(token) && (!this.ignoreEos || this.constraint?.complete)) return this.end('stop');
    this.generated++;
    this.lastToken = token;
    this.sampler.accept(token);
    const { emit, stopped } = this.stops.push(this.decoder.push(token));
    if (emit) this.emit({ type: 'delta', text: emit });
    if (stopped) return this.finish(this.doneEvent('stop'));
    if (this.generated >= this.budget) this.end('length');
  }

  /** Ends without a stop string: held-back text is released (unless it completes one). */
  private end(reason: 'stop' | 'length'): void {
    const tail = this.stops.push(this.decoder.flush());
    const rest = tail.stopped ? tail.emit : tail.emit + this.stops.flush();
    if (rest) this.emit({ type: 'delta', text: rest });
    this.finish(this.doneEvent(tail.stopped ? 'stop' : reason));
  }

  private doneEvent(finishReason: 'stop' | 'length'): WorkerEvent {
    return { type: 'done', finishReason, promptTokens: this.prompt.length, completionTokens: this.generated };
  }
}
