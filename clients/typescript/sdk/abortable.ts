import { CrucibleError } from '../../../protocol/errors.js';

/**
 * Stops waiting when `signal` aborts, with `cancelled`. For calls the agent finishes quickly
 * (lists, states, load and unload), which it completes even when the caller stops waiting.
 */
export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  const cancelled = () => new CrucibleError('cancelled', 'the call was cancelled');
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
