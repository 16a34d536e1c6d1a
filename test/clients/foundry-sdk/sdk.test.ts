import t from 'tap';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FoundryLocalManager as NodeManager } from 'foundry-local-sdk';
import { FoundryLocalManager } from 'foundry-local-sdk/browser';
import OpenAI from 'openai';
import { startModelServer } from '../../helpers/model-server.js';
import { CLI } from '../../helpers/run.js';
import { startTestService } from '../../helpers/service.js';

t.test('the foundry-local-sdk flow against a running agent', async (t) => {
  const server = await startModelServer(['none', 'slow']);
  t.teardown(() => server.close());
  const svc = await startTestService(t, ['--catalog-url', server.catalogUrl]);
  const fl = new FoundryLocalManager({ serviceUrl: svc.url });

  const catalog = await fl.listCatalogModels();
  const slow = catalog.find((m) => m.id === 'tiny-slow:1');
  t.match(slow, {
    alias: 'tiny-slow', version: '1', executionProvider: 'CPUExecutionProvider', deviceType: 'CPU', provider: 'AzureFoundry',
    publisher: 'test', license: 'MIT', task: 'chat-completion', promptTemplate: {},
  }, 'a remote entry maps onto the SDK model, provider included');
  t.ok(Number.isInteger(slow?.modelSize), 'fileSizeMb is an integer');
  t.match(catalog.find((m) => m.id === 'stories260k-generic-cpu:1'), { alias: 'stories260k', provider: 'AzureFoundry' });

  t.match(await fl.getModelInfo('tiny-slow'), { id: 'tiny-slow:1' }, 'model info by alias');
  t.equal(await fl.getCacheLocation(), svc.config.modelsDir, 'cache location (modelDirPath)');
  const cached = (await fl.listCachedModels()).map((m) => m.id);
  t.ok(cached.includes('stories260k-generic-cpu:1') && !cached.includes('tiny-slow:1'), 'cached list');

  await t.rejects(fl.loadModel('tiny-slow'), { message: 'Model tiny-slow has not been downloaded yet. Please download it first.' },
    'loading a model that is not downloaded gives the SDK\'s own guidance');

  const progress: number[] = [];
  const downloaded = await fl.downloadModel('tiny-slow', undefined, undefined, false, (p) => progress.push(p));
  t.equal(downloaded.id, 'tiny-slow:1');
  t.ok(progress.length >= 2, `the progress callback was called (${progress.join(', ')})`);
  t.ok(progress.every((p, i) => i === 0 || p > progress[i - 1]), 'progress only grows');
  t.equal(progress.at(-1), 100);
  t.ok((await fl.listCachedModels()).some((m) => m.id === 'tiny-slow:1'), 'now in the cached list');
  const again: number[] = [];
  await fl.downloadModel('tiny-slow', undefined, undefined, false, (p) => again.push(p));
  t.same(again, [100], 'a cached model reports 100 at once');
  await fl.downloadModel('tiny-none', undefined, undefined, true);
  t.ok((await fl.listCachedModels()).some((m) => m.id === 'tiny-none:1'), 'a forced download also lands');

  t.match(await fl.loadModel('tiny-slow'), { id: 'tiny-slow:1' });
  t.same((await fl.listLoadedModels()).map((m) => m.id), ['tiny-slow:1'], 'loaded list');

  const openai = new OpenAI({ baseURL: fl.endpoint, apiKey: fl.apiKey });
  const r = await openai.chat.completions.create({
    model: 'tiny-slow:1', messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 12,
  });
  t.equal(r.choices[0].message.content, ', there was a little girl named Lily. She', 'chat through the SDK\'s endpoint');

  await fl.unloadModel('tiny-slow');
  t.same(await fl.listLoadedModels(), [], 'unloaded');
});

/** The fields and types the Python SDK's FoundryListResponseModel requires of each entry. */
const PYTHON_MODEL: Record<string, (v: any) => boolean> = {
  name: (v) => typeof v === 'string', displayName: (v) => typeof v === 'string', modelType: (v) => typeof v === 'string',
  providerType: (v) => typeof v === 'string', uri: (v) => typeof v === 'string', version: (v) => typeof v === 'string',
  promptTemplate: (v) => v !== null && typeof v === 'object', publisher: (v) => typeof v === 'string', task: (v) => typeof v === 'string',
  runtime: (v) => ['CPU', 'GPU', 'NPU'].includes(v?.deviceType)
    && ['CPUExecutionProvider', 'WebGpuExecutionProvider', 'CUDAExecutionProvider', 'QNNExecutionProvider'].includes(v?.executionProvider),
  fileSizeMb: (v) => Number.isInteger(v), modelSettings: (v) => v !== null && typeof v === 'object' && Array.isArray(v.parameters),
  alias: (v) => typeof v === 'string', supportsToolCalling: (v) => typeof v === 'boolean', license: (v) => typeof v === 'string',
  licenseDescription: (v) => typeof v === 'string', parentModelUri: (v) => typeof v === 'string',
  maxOutputTokens: (v) => Number.isInteger(v), minFLVersion: (v) => typeof v === 'string',
};

t.test('every /foundry/list entry has what the Python SDK validates', async (t) => {
  const server = await startModelServer(['none']);
  t.teardown(() => server.close());
  const svc = await startTestService(t, ['--catalog-url', server.catalogUrl]);
  const list = await (await fetch(`${svc.url}/foundry/list`)).json() as Record<string, unknown>[];
  t.ok(list.length >= 6);
  for (const entry of list) {
    const bad = Object.entries(PYTHON_MODEL).filter(([k, ok]) => !ok(entry[k])).map(([k]) => `${k}=${JSON.stringify(entry[k])}`);
    t.same(bad, [], `${entry.name}`);
  }
  const status = await (await fetch(`${svc.url}/openai/status`)).json() as Record<string, unknown>;
  t.equal(status.modelDirPath, svc.config.modelsDir, 'the Python SDK reads modelDirPath too');
  const ua = await fetch(`${svc.url}/openai/download`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'foundry-local-python-sdk/0.3.1' },
    body: JSON.stringify({ model: 'stories260k' }),
  });
  t.match(ua.headers.get('content-type'), /^text\/plain/, 'a foundry-local-* User-Agent alone gets the SDK form');
  t.match(JSON.parse(await ua.text()), { success: true, errorMessage: null, Success: true, model: 'stories260k-generic-cpu:1' });
});

t.test('the SDK\'s Node entry finds the agent through `foundry service status`', async (t) => {
  const svc = await startTestService(t);
  // A `foundry` on PATH that is the crucible CLI for this agent's home.
  const bin = mkdtempSync(join(tmpdir(), 'cru-bin-'));
  t.teardown(() => rmSync(bin, { recursive: true, force: true }));
  writeFileSync(join(bin, 'foundry'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" --home "${svc.home}" "$@"\n`);
  chmodSync(join(bin, 'foundry'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  t.teardown(() => { process.env.PATH = path; });
  const fl = new NodeManager();
  t.ok(await fl.isServiceRunning(), 'the status line is found');
  t.equal(fl.serviceUrl, svc.url, 'and the endpoint read from it');
  t.equal(await fl.getCacheLocation(), svc.config.modelsDir);
});
