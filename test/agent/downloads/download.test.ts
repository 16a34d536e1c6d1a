import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PipeClient } from '../../../clients/typescript/pipe-client.js';
import type { DownloadProgress } from '../../../protocol/catalog.js';
import { startModelServer } from '../../helpers/model-server.js';
import { startTestService } from '../../helpers/service.js';

/** POST /openai/download asking for NDJSON, and read the lines. */
async function download(url: string, model: unknown) {
  const res = await fetch(`${url}/openai/download`, {
    method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' }, body: JSON.stringify({ model }),
  });
  const text = await res.text();
  const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { status: res.status, lines, final: lines.at(-1), progress: lines.filter((l) => l.type === 'progress') as DownloadProgress[] };
}

const ok = (model: string) => ({ Success: true, ErrorMessage: null, success: true, errorMessage: null, error: null, model });

const chatText = async (url: string, model: string) => {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 12 }),
  });
  return ((await res.json()) as any).choices[0].message.content as string;
};

t.test('catalog, downloads with faults, and the cache', async (t) => {
  const server = await startModelServer();
  t.teardown(() => server.close());
  const svc = await startTestService(t, ['--catalog-url', server.catalogUrl]);
  const modelsDir = svc.config.modelsDir;

  const list = await (await fetch(`${svc.url}/foundry/list`)).json() as any[];
  const names = list.map((e) => e.name);
  t.ok(names.includes('stories260k-generic-cpu:1') && names.includes('qwen2.5-0.5b-instruct-generic-cpu:1'), 'built-in entries are listed');
  t.ok(names.includes('tiny-drop:1'), 'remote entries are merged in');
  t.match(list.find((e) => e.name === 'stories260k-generic-cpu:1'), { cached: true, alias: 'stories260k', license: 'MIT' });
  t.match(list.find((e) => e.name === 'tiny-none:1'), { cached: false, runtime: { executionProvider: 'CPUExecutionProvider' } });

  t.test('a plain download reports progress and lands in the cache', async (t) => {
    const r = await download(svc.url, 'tiny-none');
    t.equal(r.status, 200);
    t.same(r.final, ok('tiny-none:1'));
    t.ok(r.progress.length >= 1, 'progress lines were streamed');
    const last = r.progress.at(-1)!;
    t.equal(last.bytesDone, last.bytesTotal);
    t.equal(last.percent, 100);
    t.ok(r.progress.every((p, i) => i === 0 || p.bytesDone >= r.progress[i - 1].bytesDone), 'bytes only grow');
    t.ok((await (await fetch(`${svc.url}/openai/models`)).json() as string[]).includes('tiny-none:1'));
    t.equal(await chatText(svc.url, 'tiny-none'), ', there was a little girl named Lily. She');
    const again = await download(svc.url, 'tiny-none:1');
    t.same(again.final, ok('tiny-none:1'), 'a cached model succeeds at once');
  });

  t.test('the seeds\' body form works too', async (t) => {
    const r = await download(svc.url, { Uri: 'azureml://registries/x', ProviderType: 'AzureFoundryLocal', Name: 'tiny-none:1' });
    t.same(r.final, ok('tiny-none:1'));
  });

  t.test('a connection dropped mid-file resumes with a Range request and verifies', async (t) => {
    const r = await download(svc.url, 'tiny-drop');
    t.same(r.final, ok('tiny-drop:1'));
    const ranges = server.gets.get('/models/drop/onnx/model.onnx')!;
    t.equal(ranges.length, 2, 'the model file was requested twice');
    t.equal(ranges[0], '');
    t.match(ranges[1], /^bytes=\d+-$/, 'the second request resumed');
    t.ok(Number(/\d+/.exec(ranges[1])![0]) > 0);
    t.equal(await chatText(svc.url, 'tiny-drop'), ', there was a little girl named Lily. She');
  });

  t.test('a wrong checksum is rejected and nothing reaches the cache', async (t) => {
    const r = await download(svc.url, 'tiny-badsum');
    t.equal(r.final.Success, false);
    t.match(r.final.ErrorMessage, /onnx\/model\.onnx: sha256 mismatch/);
    t.notOk((await (await fetch(`${svc.url}/openai/models`)).json() as string[]).includes('tiny-badsum:1'));
    t.notOk(existsSync(join(modelsDir, 'tiny-badsum-1')));
  });

  t.test('a missing file fails the download, naming the file', async (t) => {
    const r = await download(svc.url, 'tiny-missing');
    t.equal(r.final.Success, false);
    t.match(r.final.ErrorMessage, /onnx\/extra\.bin: HTTP 404/);
    t.notOk(existsSync(join(modelsDir, 'tiny-missing-1')));
  });

  t.test('a model not in the catalog is a 404 before any streaming', async (t) => {
    const r = await download(svc.url, 'no-such-model');
    t.equal(r.status, 404);
    t.equal(r.final.error.code, 'model_not_found');
  });

  t.test('a slow download cancelled over the pipe leaves no half model', async (t) => {
    const client = await PipeClient.connect(svc.pipeName);
    t.teardown(() => client.close());
    const ac = new AbortController();
    let progress = 0;
    await t.rejects(client.download('tiny-slow', () => { if (++progress === 2) ac.abort(); }, ac.signal), { code: 'cancelled' });
    t.ok(progress >= 2, 'progress frames arrived');
    await new Promise((r) => setTimeout(r, 300));
    t.notOk(existsSync(join(modelsDir, 'tiny-slow-1')), 'not in the cache');
    t.notOk(existsSync(join(modelsDir, '.partial', 'tiny-slow-1')), 'the partial files are gone');
  });

  t.test('two simultaneous downloads of one model share one transfer', async (t) => {
    const before = server.gets.get('/models/slow/onnx/model.onnx')?.length ?? 0;
    const [a, b] = await Promise.all([download(svc.url, 'tiny-slow'), download(svc.url, 'tiny-slow:1')]);
    t.same(a.final, ok('tiny-slow:1'));
    t.same(b.final, ok('tiny-slow:1'));
    t.equal(server.gets.get('/models/slow/onnx/model.onnx')!.length - before, 1, 'one GET of the model file');
  });

  t.test('cache removal refuses a loaded model unless forced', async (t) => {
    t.equal((await fetch(`${svc.url}/openai/load/tiny-none`)).status, 200);
    const refused = await fetch(`${svc.url}/openai/models/tiny-none`, { method: 'DELETE' });
    t.equal(refused.status, 409);
    t.equal(((await refused.json()) as any).error.code, 'model_in_use');
    const forced = await fetch(`${svc.url}/openai/models/tiny-none?force=true`, { method: 'DELETE' });
    t.equal(forced.status, 200);
    t.notOk(existsSync(join(modelsDir, 'tiny-none-1')));
    t.notOk((await (await fetch(`${svc.url}/openai/loadedmodels`)).json() as string[]).includes('tiny-none:1'));
  });

  t.test('a Foundry SDK-style request gets percentage text lines, then the result as one JSON write', async (t) => {
    const res = await fetch(`${svc.url}/openai/download`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: { Name: 'tiny-none:1', Uri: 'azureml://x', ProviderType: 'AzureFoundryLocal' }, IgnorePipeReport: true }),
    });
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^text\/plain/);
    const chunks: string[] = [];
    const decoder = new TextDecoder();
    for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) chunks.push(decoder.decode(bytes));
    const json = chunks.findIndex((c) => c.startsWith('{'));
    t.ok(json > 0, 'progress chunks come first');
    t.ok(chunks.slice(0, json).every((c) => /\d+(\.\d+)?%/.test(c)), 'every progress chunk holds a percentage');
    t.same(JSON.parse(chunks.slice(json).join('')), ok('tiny-none:1'), 'the rest is the result object alone');
    t.match(chunks[json - 1], /100\.00%/);
    t.equal((await fetch(`${svc.url}/openai/models/tiny-none`, { method: 'DELETE' })).status, 200, 'removed again for the lock test');
  });

  t.test('a lock held by another live process makes the download wait', async (t) => {
    const holder = spawn('sleep', ['30']);
    t.teardown(() => holder.kill());
    mkdirSync(join(modelsDir, '.locks'), { recursive: true });
    writeFileSync(join(modelsDir, '.locks', 'tiny-none-1.lock'), String(holder.pid));
    let finished = false;
    const pending = download(svc.url, 'tiny-none').then((r) => { finished = true; return r; });
    await new Promise((r) => setTimeout(r, 600));
    t.notOk(finished, 'waits while the other process holds the lock');
    holder.kill();
    const r = await pending;
    t.same(r.final, ok('tiny-none:1'));
    t.notOk(readdirSync(join(modelsDir, '.locks')).includes('tiny-none-1.lock'), 'the lock is released');
  });
});
