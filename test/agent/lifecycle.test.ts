import t from 'tap';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STORIES, linkEndless, slowStream, startTestService, storyRequest } from '../helpers/service.js';

/** Puts a copy of stories260k into a cache under another id. */
function addCopy(modelsDir: string, id: string): void {
  const dir = join(modelsDir, id.replace(/:/g, '-'));
  cpSync(STORIES, dir, { recursive: true });
  writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ id, alias: id.replace(/:.*/, '') }));
}

const getJson = async (url: string) => (await fetch(url)).json() as Promise<any>;
const waitFor = async (pred: () => Promise<boolean>, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
};

t.test('an idle model unloads when its ttl expires', async (t) => {
  const svc = await startTestService(t);
  await getJson(`${svc.url}/openai/load/stories260k?ttl=1`);
  t.same(await getJson(`${svc.url}/openai/loadedmodels`), ['stories260k-generic-cpu:1']);
  // The clock the agent keeps, not one measured here (that would depend on the machine's speed).
  const row = ((await getJson(`${svc.url}/openai/ps`)) as any[]).find((m) => m.id === 'stories260k-generic-cpu:1');
  t.ok(row.expiresInSeconds !== null && row.expiresInSeconds <= 1, `the ttl counts down from 1 s (${row.expiresInSeconds} s left)`);
  t.ok(await waitFor(async () => (await getJson(`${svc.url}/openai/loadedmodels`)).length === 0), 'unloaded');
  // Using the model again loads it and restarts the clock (default ttl from --ttl).
  await fetch(`${svc.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(storyRequest()) });
  t.same(await getJson(`${svc.url}/openai/loadedmodels`), ['stories260k-generic-cpu:1']);
});

t.test('the least recently used idle model is evicted; a busy one never is', async (t) => {
  const svc = await startTestService(t, ['--max-loaded-models', '2']);
  addCopy(svc.config.modelsDir, 'copy-a:1');
  linkEndless(svc.config.modelsDir, 'copy-b:1');
  await getJson(`${svc.url}/openai/load/stories260k`);
  await getJson(`${svc.url}/openai/load/copy-a`);
  // Touch stories260k so copy-a is the least recently used.
  await fetch(`${svc.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(storyRequest({ max_tokens: 2 })) });
  await getJson(`${svc.url}/openai/load/copy-b`);
  t.same((await getJson(`${svc.url}/openai/loadedmodels`)).sort(), ['copy-b:1', 'stories260k-generic-cpu:1']);

  // Keep copy-b busy with a long stream, then need room twice over.
  const ac = new AbortController();
  const busy = await fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
    body: JSON.stringify(slowStream({ model: 'copy-b:1' })),
  });
  const reader = busy.body!.getReader();
  await reader.read();
  await getJson(`${svc.url}/openai/load/copy-a`);
  const loaded = (await getJson(`${svc.url}/openai/loadedmodels`)).sort();
  t.ok(loaded.includes('copy-b:1'), 'the busy model stayed loaded');
  t.notOk(loaded.includes('stories260k-generic-cpu:1'), 'the idle one made room');
  ac.abort();
});

t.test('a second agent registered as an external model answers through the first', async (t) => {
  const remote = await startTestService(t);
  addCopy(remote.config.modelsDir, 'remote-tales:1');
  const local = await startTestService(t);
  const reg = await fetch(`${local.url}/openai/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ TypeName: 'openai', ModelName: 'remote-tales:1', BaseUri: remote.url }),
  });
  t.same(await reg.json(), { model: 'remote-tales:1' });
  t.ok((await getJson(`${local.url}/openai/models`)).includes('remote-tales:1'), 'listed with the cached models');
  t.ok((await getJson(`${local.url}/v1/models`)).data.some((m: any) => m.id === 'remote-tales:1'));

  const whole = await (await fetch(`${local.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(storyRequest({ model: 'remote-tales:1', max_tokens: 12 })),
  })).json() as any;
  t.equal(whole.choices[0].message.content, ', there was a little girl named Lily. She');
  t.equal(whole.usage.completion_tokens, 12);

  const streamed = await (await fetch(`${local.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(storyRequest({ model: 'remote-tales:1', max_tokens: 12, stream: true })),
  })).text();
  const text = streamed.split('\n\n').filter((f) => f.startsWith('data: {')).map((f) => JSON.parse(f.slice(6)).choices[0]?.delta?.content ?? '').join('');
  t.equal(text, ', there was a little girl named Lily. She', 'streaming is proxied');
  t.ok(streamed.trimEnd().endsWith('data: [DONE]'));

  // Registrations persist across restarts of the agent (same home).
  const { loadConfig } = await import('../../agent/config.js');
  const { startService } = await import('../../agent/service.js');
  await local.close();
  const again = await startService(loadConfig(['--home', local.home], {}), { logToStderr: false });
  t.teardown(() => again.close());
  t.ok((await again.agent.cachedModels()).includes('remote-tales:1'), 'still registered after a restart');
});

t.test('a model folder can set its own batch size in crucible.json', async (t) => {
  const svc = await startTestService(t, ['--max-queue', '0']);
  linkEndless(svc.config.modelsDir, 'solo');
  writeFileSync(join(svc.config.modelsDir, 'solo', 'crucible.json'), JSON.stringify({ id: 'solo', maxBatch: 1, fuse: false }));
  linkEndless(svc.config.modelsDir);
  const open = async (model: string) => {
    const res = await fetch(`${svc.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(slowStream({ model })),
    });
    const reader = res.body!.getReader();
    if (res.status === 200) await reader.read();
    return { status: res.status, reader };
  };
  // endless follows --max-batch (8); solo serves one request at a time. Streams that never end
  // hold their places, so the outcome does not depend on how fast the model decodes.
  const first = await open('solo');
  t.equal(first.status, 200);
  const second = await open('solo');
  t.equal(second.status, 503, 'a second request finds solo busy');
  const both = [await open('endless'), await open('endless')];
  t.same(both.map((r) => r.status), [200, 200], 'two requests share the batch of endless');
  await Promise.all([first, second, ...both].map((r) => r.reader.cancel()));
});
