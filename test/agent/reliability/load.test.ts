import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { crucible } from '../../helpers/run.js';
import { storiesOf, storyRequest, tempHome } from '../../helpers/service.js';

const CLIENTS = 64;
const ROUNDS = 3;

interface Outcome { status: number; complete: boolean; code?: string }

/** One streaming client, bounded in time: a hang shows up as a failure, not a stuck test. */
async function client(url: string, i: number): Promise<Outcome> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(60_000),
    body: JSON.stringify(storyRequest({ stream: true, max_tokens: 60 + (i % 5) * 20, ignore_eos: true, messages: [{ role: 'user', content: `Story ${i}` }] })),
  });
  const text = await res.text();
  if (res.status !== 200) return { status: res.status, complete: false, code: JSON.parse(text).error?.code };
  return { status: 200, complete: text.includes('"finish_reason":"length"') && text.trimEnd().endsWith('data: [DONE]') };
}

async function memory(url: string): Promise<{ rss: number; heap: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: read('crucible_process_resident_memory_bytes'), heap: read('crucible_nodejs_heap_size_used_bytes') };
}

t.test(`${CLIENTS} concurrent streaming clients on one model: each completes or gets 503`, async (t) => {
  const home = tempHome();
  t.teardown(async () => {
    await crucible(home, 'service', 'stop');
    rmSync(home, { recursive: true, force: true });
  });
  t.equal((await crucible(home, 'service', 'start')).status, 0);
  const url = JSON.parse(readFileSync(join(home, 'service.json'), 'utf8')).endpoints[0];
  await fetch(`${url}/openai/load/stories260k`);
  const samples: { rss: number; heap: number }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const t0 = performance.now();
    const outcomes = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(url, i).catch((e: Error) => ({ status: 0, complete: false, code: e.name }))));
    const seconds = (performance.now() - t0) / 1000;
    const ok = outcomes.filter((o) => o.status === 200 && o.complete).length;
    const refused = outcomes.filter((o) => o.status === 503 && o.code === 'overloaded').length;
    t.equal(ok + refused, CLIENTS, `round ${round}: every request completed (${ok}) or got 503 (${refused})`);
    t.notOk(outcomes.some((o) => o.status >= 500 && o.status !== 503), `round ${round}: no 500s`);
    t.notOk(outcomes.some((o) => o.status === 0), `round ${round}: nothing hung or broke`);
    t.ok(ok >= 8, `round ${round}: at least a full batch was served`);
    await new Promise((r) => setTimeout(r, 500));
    const m = await memory(url);
    samples.push(m);
    t.comment(`round ${round}: ${ok} completed, ${refused} refused in ${seconds.toFixed(2)} s; agent RSS ${(m.rss / 1e6).toFixed(1)} MB, heap ${(m.heap / 1e6).toFixed(1)} MB`);
  }
  const ps = await (await fetch(`${url}/openai/ps`)).json() as { id: string; inFlight: number; queued: number }[];
  t.match(storiesOf(ps), { inFlight: 0, queued: 0 }, 'nothing left in flight or queued');
  // Memory settles: the last round holds no more than the first plus a small allowance.
  t.ok(samples[ROUNDS - 1].rss - samples[0].rss < 40e6, `RSS returns to its level (${(samples[0].rss / 1e6).toFixed(1)} -> ${(samples[ROUNDS - 1].rss / 1e6).toFixed(1)} MB)`);
  t.ok(samples[ROUNDS - 1].heap - samples[0].heap < 20e6, `heap returns to its level (${(samples[0].heap / 1e6).toFixed(1)} -> ${(samples[ROUNDS - 1].heap / 1e6).toFixed(1)} MB)`);
});
