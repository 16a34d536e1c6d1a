import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, loadConfig } from '../../agent/config.js';
import { type RunningService, startService } from '../../agent/service.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const SHARED_MODELS = join(REPO, '..', 'shared', 'models');
export const STORIES = join(REPO, 'models', 'stories260k');

/** The known greedy continuation of BOS + "Once upon a time" (llama2.c reference). */
export const GREEDY = ', there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.';

export function tempHome(prefix = 'cru-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A real agent (HTTP + pipe) in a fresh home, stopped and removed when the test ends. */
export async function startTestService(t: Teardown, flags: string[] = []): Promise<RunningService & { home: string; config: Config }> {
  const home = tempHome();
  const config = loadConfig(['--home', home, ...flags], {});
  const service = await startService(config, { logToStderr: false });
  t.teardown(async () => {
    await service.close();
    rmSync(home, { recursive: true, force: true });
  });
  return { ...service, home, config };
}

export const storyRequest = (extra: Record<string, unknown> = {}) => ({
  model: 'stories260k',
  messages: [{ role: 'user', content: 'Once upon a time' }],
  temperature: 0,
  max_tokens: 40,
  ...extra,
});

export const STORIES_ID = 'stories260k-generic-cpu:1';

/** The bundled chat model's row in a model listing (the cache also holds predictive models). */
export const storiesOf = <T extends { id: string }>(list: T[]): T => {
  const row = list.find((m) => m.id === STORIES_ID);
  if (!row) throw new Error(`${STORIES_ID} is not in the listing`);
  return row;
};

/**
 * Puts bench15m (random weights, ~150 tok/s here) into a cache: a generation on it reliably
 * outlasts the few hundred milliseconds a test needs to act on a running stream.
 */
export function linkBench15m(modelsDir: string): void {
  symlinkSync(join(SHARED_MODELS, 'bench15m'), join(modelsDir, 'bench15m'));
}

/** A streaming request on bench15m that runs for a couple of seconds. */
export const slowStream = (extra: Record<string, unknown> = {}) => ({
  model: 'bench15m', stream: true, max_tokens: 240, ignore_eos: true, temperature: 0, messages: [{ role: 'user', content: 'x' }], ...extra,
});
