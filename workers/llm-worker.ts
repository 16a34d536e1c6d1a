/**
 * Entry point of a model's piscina worker thread. It owns one Engine (one ONNX session) and
 * knows nothing of HTTP or pipes: tasks come in as WorkerTask, events go out on the task's port.
 * The engine is created inside the first task, so a model that fails to load rejects that task
 * cleanly instead of crashing the pool.
 */
import { workerData } from 'node:worker_threads';
import { toCrucibleError } from '../protocol/errors.js';
import type { WorkerInit, WorkerResult, WorkerTask } from '../protocol/worker-messages.js';
import { Engine } from './engine/engine.js';

let engine: Promise<Engine> | null = null;

function getEngine(): Promise<Engine> {
  engine ??= Engine.create(workerData as WorkerInit);
  return engine;
}

export default async function handle(task: WorkerTask): Promise<WorkerResult> {
  if (task.kind === 'crash') {
    // Thrown from a timer, never from inside a session.run: the thread dies as a real fault would.
    setTimeout(() => { throw new Error('simulated worker fault'); }, 0);
    return { ok: true };
  }
  try {
    const e = await getEngine();
    switch (task.kind) {
      case 'load':
        return { ok: true, facts: e.facts };
      case 'embed': {
        const { vectors, tokens } = await e.embed(task.inputs, task.pooling);
        return { ok: true, vectors, tokenCount: tokens };
      }
      case 'count':
        return { ok: true, tokenCount: e.countTokens(task.messages) };
      case 'generate':
        await e.generate({
          messages: task.messages,
          text: task.text,
          tools: task.tools,
          sampling: task.sampling,
          cancel: task.cancel,
          emit: (event) => task.port.postMessage(event),
        });
        task.port.close();
        return { ok: true };
    }
  } catch (err) {
    const error = toCrucibleError(err).toBody();
    if (task.kind === 'generate') {
      task.port.postMessage({ type: 'error', error });
      task.port.close();
    }
    return { ok: false, error };
  }
}
