import ort from 'onnxruntime-node';
import { CrucibleError } from '../../protocol/errors.js';

/** Execution providers this build of onnxruntime-node can actually create sessions with. */
export function availableProviders(): string[] {
  const bundled = ort.listSupportedBackends().filter((b) => b.bundled).map((b) => b.name);
  return bundled.includes('cpu') ? bundled : ['cpu', ...bundled];
}

/**
 * Creates the session on the requested provider. A provider that cannot start (no adapter, no
 * driver) is an error when asked for explicitly; `auto` falls back to CPU and says so.
 */
export async function createSession(path: string, ep: string, threads: number, extra: ort.InferenceSession.SessionOptions = {}):
Promise<{ session: ort.InferenceSession; executionProvider: string }> {
  const options = (provider: string): ort.InferenceSession.SessionOptions => ({
    ...extra,
    executionProviders: [provider],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const wanted = ep === 'auto' ? 'cpu' : ep;
  try {
    return { session: await ort.InferenceSession.create(path, options(wanted)), executionProvider: wanted };
  } catch (err) {
    const message = (err as Error).message;
    if (wanted !== 'cpu') {
      throw new CrucibleError('unsupported_execution_provider', `execution provider '${wanted}' failed to start: ${message}`, 'ep');
    }
    throw new CrucibleError('model_load_failed', `cannot load ${path}: ${message}`);
  }
}
