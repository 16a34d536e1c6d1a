import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { chromium } from 'playwright-core';
import { chromiumPath } from '../../helpers/browser.js';
import { REPO, startTestService } from '../../helpers/service.js';

/** A page server: an empty page, the SDK's browser entry and the openai package's ES modules. */
async function pageServer() {
  const files: Record<string, string> = {
    '/sdk.mjs': join(REPO, 'node_modules', 'foundry-local-sdk', 'dist', 'base.mjs'),
  };
  const openaiDir = join(REPO, 'node_modules', 'openai');
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>crucible from a page</title>');
      return;
    }
    const file = files[path] ?? (path.startsWith('/openai/') ? join(openaiDir, normalize(path.slice('/openai/'.length))) : '');
    const inside = file === files['/sdk.mjs'] || file.startsWith(openaiDir + '/');
    if (!file || !inside || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': extname(file) === '.mjs' ? 'text/javascript' : 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

t.test('a browser page: the SDK\'s browser entry and the openai client work from a local origin, not from another', async (t) => {
  const svc = await startTestService(t);
  const pages = await pageServer();
  t.teardown(pages.close);
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    // evil.example resolves to this machine: the DNS rebinding case.
    args: ['--no-sandbox', '--host-resolver-rules=MAP evil.example 127.0.0.1'],
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage();

  await page.goto(`http://localhost:${pages.port}/`);
  const sdk = await page.evaluate(async (serviceUrl) => {
    const { FoundryLocalManager } = await import('/sdk.mjs' as string);
    const fl = new FoundryLocalManager({ serviceUrl });
    return { location: await fl.getCacheLocation(), cached: (await fl.listCachedModels()).map((m: { id: string }) => m.id) };
  }, svc.url);
  t.equal(sdk.location, svc.config.modelsDir, 'the SDK\'s browser entry reads the status');
  t.ok(sdk.cached.includes('stories260k-generic-cpu:1'), 'and the catalog and the cache');

  const chat = await page.evaluate(async (serviceUrl) => {
    const { default: OpenAI } = await import('/openai/index.mjs' as string);
    const client = new OpenAI({ baseURL: `${serviceUrl}/v1`, apiKey: 'unused', dangerouslyAllowBrowser: true });
    const stream = await client.chat.completions.create({
      model: 'stories260k', messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 12, stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    const { data, response } = await client.chat.completions.create({
      model: 'stories260k', messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 12,
    }).withResponse();
    return { text, plain: data.choices[0].message.content, requestId: response.headers.get('x-request-id') };
  }, svc.url);
  t.equal(chat.text, ', there was a little girl named Lily. She', 'the openai client streams a chat from the page');
  t.equal(chat.plain, chat.text);
  t.ok(chat.requestId, 'and can read the exposed x-request-id');

  await page.goto(`http://evil.example:${pages.port}/`);
  const refused = await page.evaluate(async (serviceUrl) => {
    try {
      await fetch(`${serviceUrl}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'stories260k', messages: [{ role: 'user', content: 'x' }] }),
      });
      return 'answered';
    } catch (err) {
      return (err as Error).name;
    }
  }, svc.url);
  t.equal(refused, 'TypeError', 'a page from another origin cannot call it');
  const status = await (await fetch(`${svc.url}/openai/ps`)).json() as { id: string; inFlight: number }[];
  t.notOk(status.some((m) => m.inFlight > 0), 'and nothing runs for it');

  const rebound = await page.goto(`http://evil.example:${svc.port}/openai/status`);
  t.equal(rebound?.status(), 403, 'a name rebound to 127.0.0.1 gets 403');
  t.notMatch(await page.content(), /ModelDirPath/, 'and learns nothing');
});
