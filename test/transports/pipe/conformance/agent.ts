import { startModelServer } from '../../../helpers/model-server.js';
import { linkEndless, startTestService, STORIES } from '../../../helpers/service.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * The agent the conformance cases expect: a fresh home with the bundled stories260k, the model
 * `endless` (a stream on it runs until cancelled), and a catalog served from 127.0.0.1 with
 * `tiny-none` (stories260k's files) and `tiny-stall` (whose model file stops after 32 KiB).
 */
export async function startConformanceAgent(t: Teardown) {
  // The files come from the repository's own copy of stories260k: nothing outside the clone is needed.
  const server = await startModelServer(['none', 'stall'], STORIES);
  t.teardown(() => server.close());
  const svc = await startTestService(t, ['--catalog-url', server.catalogUrl]);
  linkEndless(svc.config.modelsDir);
  return svc;
}
