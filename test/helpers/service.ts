import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

/** Far more positions than any test generates: a stream on the endless model never runs out. */
export const ENDLESS_CONTEXT = 1 << 20;

/**
 * Puts `endless` into a cache: stories260k's real weights and tokenizer (linked, not copied) with a
 * context of a million positions. A stream asked for most of them with `ignore_eos` still runs
 * when the test acts on it, however fast the machine decodes (a test cancels it long before the
 * end), so no test depends on decode speed. Nothing in the graph bounds positions: its rotary
 * angles are computed from position_ids.
 */
export function linkEndless(modelsDir: string, name = 'endless'): void {
  const dir = join(modelsDir, name);
  mkdirSync(dir, { recursive: true });
  for (const f of ['onnx', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) symlinkSync(join(STORIES, f), join(dir, f));
  const config = JSON.parse(readFileSync(join(STORIES, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, max_position_embeddings: ENDLESS_CONTEXT }));
  const genai = JSON.parse(readFileSync(join(STORIES, 'genai_config.json'), 'utf8'));
  genai.model.context_length = ENDLESS_CONTEXT;
  genai.search.max_length = ENDLESS_CONTEXT;
  writeFileSync(join(dir, 'genai_config.json'), JSON.stringify(genai));
  // Unfused: fusing would tabulate rotary angles for every one of the million positions.
  writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ id: name, fuse: false }));
}

/** A streaming request on the endless model that only ends when it is stopped. */
export const slowStream = (extra: Record<string, unknown> = {}) => ({
  model: 'endless', stream: true, max_tokens: 1_000_000, ignore_eos: true, temperature: 0, messages: [{ role: 'user', content: 'x' }], ...extra,
});

/** Polls until `pred` holds (or `ms` pass): waits for a state without guessing how long it takes. */
export async function until(pred: () => Promise<boolean> | boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}
