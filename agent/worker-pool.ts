import type { MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { CrucibleError, type ErrorBody, fromErrorBody } from '../protocol/errors.js';

/** What every model worker answers: its payload, or the error it caught. */
type Answer<T> = ({ ok: true } & T) | { ok: false; error: ErrorBody };

/** A task in flight: its cancel flag (when it has one) and when it settles. */
export interface InFlight {
  flag?: Int32Array;
  settled: Promise<unknown>;
}

/**
 * Starts a model's worker threads (every kind: chat, predictive, embeddings, speech) and runs
 * their first task, the load: a model that fails to load rejects with the worker's own error and
 * leaves no thread behind.
 */
export async function startModelPool<T>(filename: string, workerData: unknown, replicas: number, concurrentTasksPerWorker = 1): Promise<{ pool: Piscina; loaded: T }> {
  const pool = new Piscina({
    filename, workerData, minThreads: replicas, maxThreads: replicas, concurrentTasksPerWorker,
    idleTimeout: Number.POSITIVE_INFINITY, recordTiming: false,
  });
  // A worker that dies must not take the agent down; its tasks reject instead.
  pool.on('error', () => {});
  try {
    const r = await pool.run({ kind: 'load' }) as Answer<T>;
    if (!r.ok) throw fromErrorBody(r.error);
    return { pool, loaded: r };
  } catch (err) {
    await pool.destroy().catch(() => {});
    throw err instanceof CrucibleError ? err : new CrucibleError('model_load_failed', `the model worker failed to start: ${(err as Error).message}`);
  }
}

/** Runs one task: a thread that dies under it is `worker_crashed`, an error it caught is that error. */
export async function runTask<T>(pool: Piscina, task: unknown, active: Set<InFlight>, { flag, transferList }: { flag?: Int32Array; transferList?: MessagePort[] } = {}): Promise<T> {
  const run = pool.run(task, transferList ? { transferList: transferList as never } : {}) as Promise<Answer<T>>;
  const handle = { flag, settled: run.catch(() => {}) };
  active.add(handle);
  try {
    const r = await run.catch((err: Error) => {
      throw new CrucibleError('worker_crashed', `the model worker stopped: ${err.message}`);
    });
    if (!r.ok) throw fromErrorBody(r.error);
    return r;
  } finally {
    active.delete(handle);
  }
}

/**
 * Stops a model's threads. Terminating a thread while it is inside session.run aborts the whole
 * process (onnxruntime-node throws into a dying environment), so tasks in flight are cancelled
 * first and allowed to finish their current step (15 s at most).
 */
export async function closeModelPool(pool: Piscina, active: Set<InFlight>): Promise<void> {
  for (const a of active) if (a.flag) Atomics.store(a.flag, 0, 1);
  await Promise.race([Promise.allSettled([...active].map((a) => a.settled)), new Promise((r) => setTimeout(r, 15_000).unref())]);
  await pool.destroy();
}
