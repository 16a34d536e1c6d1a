import { CrucibleError } from '../protocol/errors.js';

export type StopReason = 'client' | 'timeout' | 'shutdown';

/**
 * One request's cancellation: the caller's signal (client gone, pipe cancel), the server-side
 * timeout and the agent's shutdown, merged into one signal that remembers which fired first.
 */
export class RequestControl {
  private readonly ac = new AbortController();
  private timer: NodeJS.Timeout;
  reason: StopReason | null = null;

  constructor(caller: AbortSignal | undefined, timeoutMs: number, shutdown: AbortSignal) {
    const stop = (why: StopReason) => () => {
      if (this.reason) return;
      this.reason = why;
      this.ac.abort();
    };
    this.onCaller = stop('client');
    this.onShutdown = stop('shutdown');
    if (caller?.aborted) this.onCaller();
    caller?.addEventListener('abort', this.onCaller, { once: true });
    if (shutdown.aborted) this.onShutdown();
    shutdown.addEventListener('abort', this.onShutdown, { once: true });
    this.caller = caller;
    this.shutdown = shutdown;
    this.timer = setTimeout(stop('timeout'), timeoutMs);
    this.timer.unref();
  }

  private readonly onCaller: () => void;
  private readonly onShutdown: () => void;
  private readonly caller: AbortSignal | undefined;
  private readonly shutdown: AbortSignal;

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  /** The error a stopped request ends with, by what stopped it. */
  error(original: CrucibleError): CrucibleError {
    if (this.reason === 'timeout') return new CrucibleError('timeout', 'the request ran past the server-side time limit');
    if (this.reason === 'shutdown') return new CrucibleError('shutting_down', 'the service is shutting down');
    if (this.reason === 'client') return new CrucibleError('cancelled', 'the request was cancelled');
    return original;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.onCaller);
    this.shutdown.removeEventListener('abort', this.onShutdown);
  }
}
