import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pickVariant } from '../../agent/resolve.js';
import { STORIES, startTestService } from '../helpers/service.js';

t.test('pickVariant: cached first, then the highest version, then the best provider that runs here', async (t) => {
  const v = (id: string, provider: string, cached: boolean) => ({ id, alias: 'm', provider, cached });
  const items = [v('m-cpu:1', 'cpu', true), v('m-cpu:3', 'cpu', false), v('m-gpu:2', 'webgpu', true), v('m-cpu:2', 'cpu', true), v('m-cuda:2', 'cuda', true)];
  t.equal(pickVariant(items, 'm', ['cpu'])?.id, 'm-cpu:2', 'cached version 2 beats cached 1 and uncached 3; only the CPU runs');
  t.equal(pickVariant(items, 'm', ['cpu', 'webgpu'])?.id, 'm-gpu:2', 'a GPU provider that runs here beats the CPU');
  t.equal(pickVariant(items, 'm', ['cpu', 'cuda', 'webgpu'])?.id, 'm-cuda:2', 'in the order the machine lists them');
  t.equal(pickVariant(items, 'm-cpu', ['cpu'])?.id, 'm-cpu:2', 'an id without version: cached before the higher uncached one');
  t.equal(pickVariant(items.map((i) => ({ ...i, cached: false })), 'm-cpu', ['cpu'])?.id, 'm-cpu:3', 'nothing cached: the highest version');
  t.equal(pickVariant(items, 'M-CPU:3', ['cpu'])?.id, 'm-cpu:3', 'an exact id, case-insensitive');
  t.equal(pickVariant([v('g:1', 'cuda', true)], 'm', ['cpu'])?.id, 'g:1', 'a variant that cannot run is still found when it is the only one');
  t.equal(pickVariant(items, 'nothing', ['cpu']), undefined);
});

/** A model folder in the cache: stories260k's files under another id and alias. */
function variant(modelsDir: string, folder: string, id: string, alias: string): void {
  const dir = join(modelsDir, folder);
  mkdirSync(dir, { recursive: true });
  for (const f of ['onnx', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'config.json', 'genai_config.json']) symlinkSync(join(STORIES, f), join(dir, f));
  writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ id, alias, runtime: { deviceType: 'CPU', executionProvider: 'CPUExecutionProvider' } }));
}

t.test('the catalog, downloads, loads and chat resolve an alias to the same variant', async (t) => {
  const entry = (version: number) => ({
    name: `multi-cpu:${version}`, alias: 'multi', version: String(version), uri: 'http://127.0.0.1:9/none', task: 'chat-completion',
    runtime: { deviceType: 'CPU', executionProvider: 'CPUExecutionProvider' }, files: [{ path: 'config.json', size: 1 }],
  });
  const catalog = http.createServer((_, res) => res.writeHead(200, { 'content-type': 'application/json' })
    .end(JSON.stringify([entry(1), entry(2), { ...entry(3), providerType: 'HuggingFace' }])));
  await new Promise<void>((r) => catalog.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => catalog.close(() => r())));
  const svc = await startTestService(t, ['--catalog-url', `http://127.0.0.1:${(catalog.address() as AddressInfo).port}/catalog.json`]);
  // Version 1 sorts first on disk; version 3 is only in the catalog.
  variant(svc.config.modelsDir, 'a-multi-1', 'multi-cpu:1', 'multi');
  variant(svc.config.modelsDir, 'b-multi-2', 'multi-cpu:2', 'multi');

  const list = await (await fetch(`${svc.url}/foundry/list`)).json() as { name: string; cached: boolean; providerType: string }[];
  t.same(list.filter((e) => e.name.startsWith('multi')).map((e) => [e.name, e.cached, e.providerType]),
    [['multi-cpu:1', true, 'AzureFoundry'], ['multi-cpu:2', true, 'AzureFoundry'], ['multi-cpu:3', false, 'HuggingFace']], 'a remote providerType is kept');
  const dl = await fetch(`${svc.url}/openai/download`, {
    method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' }, body: JSON.stringify({ model: 'multi' }),
  });
  t.match(JSON.parse((await dl.text()).trim().split('\n').at(-1)!), { Success: true, model: 'multi-cpu:2' }, 'download: the highest cached version');
  t.same(await (await fetch(`${svc.url}/openai/load/multi`)).json(), { model: 'multi-cpu:2' }, 'load: the same');
  t.same(await (await fetch(`${svc.url}/openai/load/multi-cpu`)).json(), { model: 'multi-cpu:2' }, 'load by id without version: the same');
  const chat = await (await fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'multi', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 4 }),
  })).json() as { model: string };
  t.equal(chat.model, 'multi-cpu:2', 'chat: the same');
  const count = await (await fetch(`${svc.url}/v1/chat/completions/tokenizer/encode/count`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'multi', messages: [{ role: 'user', content: 'x' }] }),
  })).json() as { model: string };
  t.equal(count.model, 'multi-cpu:2', 'token counting: the same');
  const three = await fetch(`${svc.url}/openai/load/multi-cpu:3`);
  t.equal(three.status, 404, 'the uncached version is named exactly and is not downloaded');
  t.match(await three.json(), { error: { code: 'model_not_found', message: /not downloaded.*No OpenAIService provider found for modelName multi-cpu:3/ } });
});
