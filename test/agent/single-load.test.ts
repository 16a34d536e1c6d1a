import t from 'tap';
import { linkEndless, startTestService, storyRequest, until } from '../helpers/service.js';

const CLIENTS = 16;

const loadsOf = async (url: string, model: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const count = (outcome: string) =>
    Number(new RegExp(`^crucible_model_loads_total\\{model="${model.replace(/[.:]/g, '\\$&')}",outcome="${outcome}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { loaded: count('loaded'), failed: count('failed') };
};

t.test(`${CLIENTS} concurrent first requests to an unloaded model share one load`, async (t) => {
  // A fresh home: the first load also fuses the graph into the cache, which concurrent loads used to
  // race on. Another model fills the budget, so the first request must evict it before it loads.
  const svc = await startTestService(t, ['--max-loaded-models', '1']);
  linkEndless(svc.config.modelsDir);
  t.equal((await fetch(`${svc.url}/openai/load/endless`)).status, 200);
  const statuses = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
    const res = await fetch(`${svc.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify(storyRequest({ max_tokens: 8, messages: [{ role: 'user', content: `Story ${i}` }] })),
    });
    const body = await res.json() as any;
    return { status: res.status, text: body.choices?.[0]?.message?.content, error: body.error };
  }));
  t.same(statuses.filter((s) => s.status !== 200), [], 'every request succeeded');
  t.ok(statuses.every((s) => typeof s.text === 'string' && s.text.length > 0), 'every request got an answer');
  t.same(await loadsOf(svc.url, 'stories260k-generic-cpu:1'), { loaded: 1, failed: 0 }, 'exactly one load ran');
  t.same(await (await fetch(`${svc.url}/openai/loadedmodels`)).json(), ['stories260k-generic-cpu:1']);

  // Loads of one model through /openai/load at the same time also share it.
  await fetch(`${svc.url}/openai/unload/stories260k?force=true`);
  const loads = await Promise.all(Array.from({ length: 8 }, () => fetch(`${svc.url}/openai/load/stories260k`).then((r) => r.status)));
  t.same(loads, Array(8).fill(200));
  t.same(await loadsOf(svc.url, 'stories260k-generic-cpu:1'), { loaded: 2, failed: 0 }, 'one more load for the second round');
});

t.test('a model unloaded while it loads leaves no pool behind and the waiters are told', async (t) => {
  const svc = await startTestService(t);
  const loading = fetch(`${svc.url}/openai/load/stories260k`).then(async (r) => ({ status: r.status, body: await r.json() as any }));
  // The unload must find the load under way (or done): sent earlier, it has nothing to unload.
  const state = async () => ((await (await fetch(`${svc.url}/openai/ps`)).json()) as { id: string; state: string }[])
    .find((m) => m.id === 'stories260k-generic-cpu:1')?.state;
  t.ok(await until(async () => ['loading', 'loaded'].includes((await state()) ?? '')), 'the load is under way');
  const unloaded = await fetch(`${svc.url}/openai/unload/stories260k?force=true`);
  t.equal(unloaded.status, 200);
  const r = await loading;
  // Either the load finished before the unload saw it, or it was told it was unloaded.
  t.ok(r.status === 200 || r.body.error?.code === 'shutting_down', `load answered ${r.status}`);
  t.same(await (await fetch(`${svc.url}/openai/loadedmodels`)).json(), [], 'nothing stays loaded');
  const again = await fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(storyRequest({ max_tokens: 4 })),
  });
  t.equal(again.status, 200, 'the model loads again afterwards');
});
