import t from 'tap';
import http from 'node:http';
import { startTestService, storyRequest } from '../../helpers/service.js';

/** A raw request, so the test controls Host (fetch always sends the URL's own). */
function request(url: string, opts: { method?: string; path: string; headers?: Record<string, string>; body?: string }) {
  const u = new URL(url);
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const preflight = (origin: string, method = 'POST', headers = 'content-type,authorization') => ({
  method: 'OPTIONS', path: '/v1/chat/completions',
  headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
});

t.test('CORS: local pages are allowed, other origins refused', async (t) => {
  const svc = await startTestService(t);

  for (const origin of ['http://localhost:5173', 'http://127.0.0.1:8080', 'http://[::1]:3000', 'http://localhost', 'app://my-shell', 'tauri://localhost']) {
    const r = await request(svc.url, preflight(origin));
    t.equal(r.status, 204, `${origin}: preflight answered 204`);
    t.equal(r.headers['access-control-allow-origin'], origin, `${origin}: its origin is allowed`);
    t.match(r.headers['access-control-allow-methods'], /POST/);
    for (const h of ['authorization', 'api-key', 'x-api-key', 'content-type', 'x-request-id']) {
      t.match(r.headers['access-control-allow-headers'], new RegExp(`\\b${h}\\b`), `${origin}: allows ${h}`);
    }
  }

  const stainless = await request(svc.url, preflight('http://localhost:5173', 'POST', 'content-type,x-stainless-os,x-stainless-retry-count,x-secret'));
  t.match(stainless.headers['access-control-allow-headers'], /x-stainless-os, x-stainless-retry-count$/, 'the openai client\'s x-stainless-* headers are allowed');
  t.notMatch(stainless.headers['access-control-allow-headers'], /x-secret/, 'other requested headers are not');

  const chat = await request(svc.url, {
    method: 'POST', path: '/v1/chat/completions',
    headers: { origin: 'http://localhost:5173', 'content-type': 'application/json' }, body: JSON.stringify(storyRequest({ max_tokens: 4 })),
  });
  t.equal(chat.status, 200);
  t.equal(chat.headers['access-control-allow-origin'], 'http://localhost:5173', 'the answer carries the origin');
  t.match(chat.headers['access-control-expose-headers'], /x-request-id/, 'and exposes the request id');
  t.ok(chat.headers['x-request-id']);

  const streamed = await request(svc.url, {
    method: 'POST', path: '/v1/chat/completions',
    headers: { origin: 'http://localhost:5173', 'content-type': 'application/json' }, body: JSON.stringify(storyRequest({ max_tokens: 4, stream: true })),
  });
  t.equal(streamed.headers['access-control-allow-origin'], 'http://localhost:5173', 'a streamed answer carries it too');

  const status = await request(svc.url, { path: '/openai/status', headers: { origin: 'http://localhost:5173' } });
  t.equal(status.headers['access-control-allow-origin'], 'http://localhost:5173');

  await fetch(`${svc.url}/openai/unload/stories260k?force=true`);
  for (const origin of ['https://evil.example', 'null', 'http://localhost.evil.example:8080', 'file://']) {
    const r = await request(svc.url, preflight(origin));
    t.equal(r.status, 403, `${origin}: preflight refused`);
    t.notOk(r.headers['access-control-allow-origin'], `${origin}: no CORS headers`);
    t.equal(JSON.parse(r.body).error.code, 'forbidden');
  }
  const read = await request(svc.url, { path: '/openai/models', headers: { origin: 'https://evil.example' } });
  t.equal(read.status, 200, 'a read from another origin is answered...');
  t.notOk(read.headers['access-control-allow-origin'], '...without CORS headers, so the page cannot read it');
  const post = await request(svc.url, {
    method: 'POST', path: '/v1/chat/completions',
    headers: { origin: 'https://evil.example', 'content-type': 'text/plain' }, body: JSON.stringify(storyRequest()),
  });
  t.equal(post.status, 403, 'a state-changing request from another origin is refused');
  t.equal(JSON.parse(post.body).error.type, 'permission_error');
  const load = await request(svc.url, { path: '/openai/load/stories260k', headers: { origin: 'https://evil.example' } });
  t.equal(load.status, 403, 'so is a GET that loads a model');
  const img = await request(svc.url, { path: '/openai/unloadall', headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' } });
  t.equal(img.status, 403, 'and a no-cors request from another site that would change state');
  t.same(await (await fetch(`${svc.url}/openai/loadedmodels`)).json(), [], 'nothing was loaded by the refused requests');
  const plain = await request(svc.url, { path: '/openai/status' });
  t.equal(plain.status, 200, 'clients that send no Origin are not affected');
  const options = await request(svc.url, { method: 'OPTIONS', path: '/v1/models' });
  t.equal(options.status, 404, 'OPTIONS without a preflight is just an unknown route');
});

t.test('CORS with keys: preflights need no key, errors carry the headers', async (t) => {
  const svc = await startTestService(t, ['--api-keys', 'k1', '--cors-origins', 'https://app.example,http://localhost:*']);
  const pre = await request(svc.url, preflight('https://app.example'));
  t.equal(pre.status, 204, 'a preflight is answered without a key');
  const denied = await request(svc.url, { path: '/v1/models', headers: { origin: 'https://app.example' } });
  t.equal(denied.status, 401);
  t.equal(denied.headers['access-control-allow-origin'], 'https://app.example', 'the page can read the 401');
  const ok = await request(svc.url, { path: '/v1/models', headers: { origin: 'https://app.example', authorization: 'Bearer k1' } });
  t.equal(ok.status, 200);
  t.equal((await request(svc.url, preflight('https://other.example'))).status, 403, 'origins outside the list are refused');
  t.equal((await request(svc.url, preflight('http://localhost:1234'))).status, 204);
});

t.test('CORS can be turned off', async (t) => {
  const svc = await startTestService(t, ['--cors-origins', 'none']);
  t.equal((await request(svc.url, preflight('http://localhost:5173'))).status, 403);
});

t.test('Host: loopback names pass, rebound names get 403', async (t) => {
  const svc = await startTestService(t);
  const port = new URL(svc.url).port;
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'localhost', `app.localhost:${port}`, `127.0.0.2:${port}`]) {
    t.equal((await request(svc.url, { path: '/openai/status', headers: { host } })).status, 200, `Host ${host} accepted`);
  }
  for (const host of [`evil.example:${port}`, `localhost.evil.example:${port}`, `127.0.0.1.nip.io:${port}`, `10.0.0.5:${port}`]) {
    const r = await request(svc.url, { path: '/openai/status', headers: { host } });
    t.equal(r.status, 403, `Host ${host} refused`);
    t.match(JSON.parse(r.body), { error: { code: 'forbidden', message: /--allowed-hosts/ } });
  }
  const chat = await request(svc.url, {
    method: 'POST', path: '/v1/chat/completions', headers: { host: `evil.example:${port}`, 'content-type': 'application/json' },
    body: JSON.stringify(storyRequest({ max_tokens: 4 })),
  });
  t.equal(chat.status, 403, 'inference is refused to a rebound name too');
  t.equal((await request(svc.url, { path: '/health', headers: { host: `evil.example:${port}` } })).status, 403, 'even /health');
});

t.test('Host: --allowed-hosts adds names', async (t) => {
  const svc = await startTestService(t, ['--allowed-hosts', 'crucible.lan,.corp.example']);
  const port = new URL(svc.url).port;
  for (const host of [`crucible.lan:${port}`, `gpu1.corp.example:${port}`, `corp.example:${port}`, `localhost:${port}`]) {
    t.equal((await request(svc.url, { path: '/openai/status', headers: { host } })).status, 200, `Host ${host} accepted`);
  }
  t.equal((await request(svc.url, { path: '/openai/status', headers: { host: `evil.example:${port}` } })).status, 403);
});
