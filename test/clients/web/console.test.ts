import t from 'tap';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { logFile } from '../../../agent/log.js';
import { chromiumPath } from '../../helpers/browser.js';
import { renderText } from '../../helpers/images.js';
import { startModelServer } from '../../helpers/model-server.js';
import { GREEDY, REPO, STORIES_ID, linkEndless, startTestService, until } from '../../helpers/service.js';

/** Screenshots of each view, for a person to look at (git-ignored). */
const SHOTS = join(REPO, 'test-output', 'console');
/** Tokens the structured-output chats generated, for the metrics total. */
let structuredTokens = 0;
mkdirSync(SHOTS, { recursive: true });

async function launch(t: { teardown(fn: () => unknown): void }): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  return browser;
}

/** Console errors and uncaught page errors, collected as they happen. */
function watch(page: Page): { errors: string[] } {
  const out = { errors: [] as string[] };
  page.on('console', (m) => { if (m.type() === 'error') out.errors.push(m.text()); });
  page.on('pageerror', (e) => out.errors.push(`pageerror: ${e.message}`));
  return out;
}

/** A counter's value for one model, read from the Prometheus text (the test may parse it; the page does not). */
async function counter(url: string, name: string, model: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name}\\{model="${model.replace(/[.:]/g, '\\$&')}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const ps = async (url: string, headers: Record<string, string> = {}) =>
  (await (await fetch(`${url}/openai/ps`, { headers })).json()) as { id: string; state: string; inFlight: number }[];

const row = (id: string) => `tr[data-key="${id}"]`;

t.test('the web console: models, downloads, chat, stop, metrics and OCR in a real browser', async (t) => {
  const models = await startModelServer(['slow', 'stall']);
  t.teardown(() => models.close());
  const svc = await startTestService(t, ['--catalog-url', models.catalogUrl]);
  linkEndless(svc.config.modelsDir);
  const browser = await launch(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  const seen = watch(page);

  const home = await page.goto(`${svc.url}/`);
  t.equal(home?.status(), 200, 'the agent serves the console at /');
  t.match(home?.headers()['content-security-policy'] ?? '', /default-src 'self'/, 'with a policy that keeps it on its own origin');
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector(`#ps-table ${row(STORIES_ID)}`);
  t.equal(await page.getAttribute('#tab-models', 'aria-selected'), 'true', 'the models view opens first');
  t.match(await page.textContent(`#catalog-table ${row('tiny-slow:1')}`), /tiny-slow.*no/s, 'the served catalog is listed, not cached');

  t.test('a download shows its progress up to 100% and lands in the cache', async (t) => {
    // Every percentage the bar shows, recorded in the page as it changes.
    await page.evaluate(`(() => {
      window.__percents = [];
      new MutationObserver((records) => {
        for (const r of records) if (r.target.dataset && r.target.dataset.percent) window.__percents.push(Number(r.target.dataset.percent));
      }).observe(document.getElementById('catalog-table'), { subtree: true, attributes: true, attributeFilter: ['data-percent'] });
    })()`);
    await page.click(`#catalog-table ${row('tiny-slow:1')} [data-action="download"]`);
    await page.waitForSelector(`#catalog-table ${row('tiny-slow:1')} .progress`);
    t.ok(await until(async () => (await page.evaluate('window.__percents') as number[]).some((p) => p > 0 && p < 100), 60_000), 'the bar moves');
    await page.screenshot({ path: join(SHOTS, 'models-downloading.png'), fullPage: true });
    t.match(await page.textContent(`#catalog-table ${row('tiny-slow:1')} .progress-text`), /%.*(KB|MB).*\/s.*left/, 'bytes, rate and time left are shown');
    await page.waitForSelector(`#catalog-table ${row('tiny-slow:1')}[data-cached="true"]`, { timeout: 60_000 });
    const percents = await page.evaluate('window.__percents') as number[];
    t.equal(Math.max(...percents), 100, 'the bar reached 100%');
    t.ok(percents.every((p, i) => i === 0 || p >= percents[i - 1]), 'and only moved forward');
    t.ok((await (await fetch(`${svc.url}/openai/models`)).json() as string[]).includes('tiny-slow:1'), 'the server has it cached');
    await page.waitForSelector(`#ps-table ${row('tiny-slow:1')}`);
  });

  t.test('Cancel stops a download and leaves nothing in the cache', async (t) => {
    const stalled = `#catalog-table ${row('tiny-stall:1')}`;
    await page.click(`${stalled} [data-action="download"]`);
    t.ok(await until(async () => Number(await page.getAttribute(`${stalled} .progress`, 'data-percent').catch(() => '0')) > 0, 60_000), 'it started');
    await page.click(`${stalled} [data-action="cancel"]`);
    await page.waitForSelector(`${stalled} [data-action="download"]`);
    t.match(await page.textContent('#banner'), 'Download of tiny-stall:1 cancelled');
    t.notOk((await (await fetch(`${svc.url}/openai/models`)).json() as string[]).includes('tiny-stall:1'), 'not cached');
  });

  t.test('Remove takes a second click, then the model leaves the cache', async (t) => {
    const remove = `#ps-table ${row('tiny-slow:1')} [data-action="remove"]`;
    await page.click(remove);
    t.equal(await page.textContent(remove), 'Confirm remove', 'the first click asks');
    t.ok((await (await fetch(`${svc.url}/openai/models`)).json() as string[]).includes('tiny-slow:1'), 'nothing is removed yet');
    await page.click(remove);
    await page.waitForSelector(`#ps-table ${row('tiny-slow:1')}`, { state: 'detached' });
    t.notOk((await (await fetch(`${svc.url}/openai/models`)).json() as string[]).includes('tiny-slow:1'), 'the server removed it');
    await page.waitForSelector(`#catalog-table ${row('tiny-slow:1')}[data-cached="false"]`);
  });

  t.test('load shows the model loaded with its provider', async (t) => {
    await page.click(`#ps-table ${row(STORIES_ID)} [data-action="load"]`);
    await page.waitForSelector(`#ps-table ${row(STORIES_ID)}[data-state="loaded"]`);
    t.equal((await ps(svc.url)).find((m) => m.id === STORIES_ID)?.state, 'loaded', 'the server says loaded');
    t.equal(await page.textContent(`#ps-table ${row(STORIES_ID)} [data-col="ep"]`), 'cpu');
    t.match(await page.textContent(`#ps-table ${row(STORIES_ID)} [data-col="memory"]`), /\d+(\.\d+)? (KB|MB)/);
    t.ok(await page.isDisabled(`#ps-table ${row(STORIES_ID)} [data-action="load"]`), 'Load is disabled once loaded');
    await page.screenshot({ path: join(SHOTS, 'models.png'), fullPage: true });
  });

  t.test('a chat streams the known greedy text, with TTFT and tokens per second', async (t) => {
    await page.keyboard.press('Alt+2');
    t.equal(await page.getAttribute('#tab-chat', 'aria-selected'), 'true', 'Alt+2 opens the chat');
    await page.waitForSelector(`#chat-model option[value="${STORIES_ID}"]`, { state: 'attached' });
    t.notOk(await page.$('#chat-model option[value="pp-ocrv4-generic-cpu:1"]'), 'predictive models are not offered for chat');
    await page.selectOption('#chat-model', STORIES_ID);
    await page.fill('#chat-temperature', '0');
    await page.fill('#chat-max-tokens', '40');
    await page.fill('#chat-input', 'Once upon a time');
    await page.press('#chat-input', 'Control+Enter');
    const answer = page.locator('.msg.assistant[data-outcome]').last();
    await answer.waitFor();
    t.equal(await answer.getAttribute('data-outcome'), 'done');
    const text = await answer.locator('.text').textContent() ?? '';
    const reference = await (await fetch(`${svc.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: STORIES_ID, messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 40 }),
    })).json() as any;
    t.equal(text, reference.choices[0].message.content, 'the same answer as the API gives');
    t.ok(text.length > 100 && GREEDY.startsWith(text), 'the bundled model\'s greedy text');
    t.match(await answer.locator('.stats').textContent(), /^TTFT \d+ ms · \d+(\.\d)? tok\/s · 40 tokens · finish: length$/);
    await page.click('#chat-code summary');
    const curl = await page.textContent('#chat-curl') ?? '';
    t.match(curl, `curl -N ${svc.url}/v1/chat/completions`, 'the request as curl');
    const sent = JSON.parse(/-d '(.*)'$/s.exec(curl)![1]);
    t.match(sent, { model: STORIES_ID, temperature: 0, max_tokens: 40, stream: true, messages: [{ role: 'user', content: 'Once upon a time' }, { role: 'assistant', content: text }] });
    t.match(await page.textContent('#chat-js'), /new OpenAI\(\{ baseURL: '.*\/v1'/, 'and as openai-client code');
    await page.screenshot({ path: join(SHOTS, 'chat.png'), fullPage: true });
  });

  t.test('the JSON Schema box makes the answer valid JSON; the tools box makes a forced call', async (t) => {
    const before = await counter(svc.url, 'crucible_tokens_generated_total', STORIES_ID);
    t.teardown(async () => { structuredTokens = (await counter(svc.url, 'crucible_tokens_generated_total', STORIES_ID)) - before; });
    await page.click('#chat-clear');
    await page.click('#chat-structured summary');
    await page.fill('#chat-temperature', '1');
    await page.fill('#chat-seed', '7');
    await page.fill('#chat-max-tokens', '120');
    const schema = { type: 'object', properties: { hero: { type: 'string', maxLength: 10 }, age: { type: 'integer', minimum: 1, maximum: 9 } }, required: ['hero', 'age'], additionalProperties: false };
    await page.fill('#chat-schema', JSON.stringify(schema));
    await page.fill('#chat-input', 'Once upon a time');
    await page.click('#chat-send');
    const answer = page.locator('.msg.assistant[data-outcome]').last();
    await answer.waitFor();
    const value = JSON.parse(await answer.locator('.text').textContent() ?? '');
    t.ok(typeof value.hero === 'string' && value.hero.length <= 10 && value.age >= 1 && value.age <= 9, `valid: ${JSON.stringify(value)}`);
    t.match(await page.textContent('#chat-curl'), /"response_format":\{"type":"json_schema"/, 'the code view carries the schema');

    await page.click('#chat-clear');
    await page.fill('#chat-schema', '');
    await page.fill('#chat-tools', JSON.stringify([{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 8 } }, required: ['city'] } } }]));
    await page.selectOption('#chat-tool-choice', 'required');
    await page.fill('#chat-input', 'Weather?');
    await page.click('#chat-send');
    const call = page.locator('.msg.assistant[data-outcome]').last();
    await call.waitFor();
    const shown = await call.locator('.text').textContent() ?? '';
    t.match(shown, /^get_weather\(\{"city": ".{0,8}"\}\)$/, `the call is shown: ${shown}`);
    t.match(await call.locator('.stats').textContent(), /finish: tool_calls/);
    await page.screenshot({ path: join(SHOTS, 'chat-structured.png'), fullPage: true });
    await page.fill('#chat-tools', '');
    await page.fill('#chat-temperature', '0');
    await page.fill('#chat-seed', '');
    await page.click('#chat-clear');
  });

  t.test('Stop ends a long generation on the server', async (t) => {
    await page.click('#chat-clear');
    await page.waitForSelector('#chat-model option[value="endless"]', { state: 'attached' });
    await page.selectOption('#chat-model', 'endless');
    await page.fill('#chat-max-tokens', '1000000');
    await page.check('#chat-ignore-eos');
    await page.fill('#chat-input', 'x');
    await page.click('#chat-send');
    t.ok(await until(async () => (await ps(svc.url)).find((m) => m.id === 'endless')?.inFlight === 1, 60_000), 'the generation runs on the server');
    t.ok(await until(async () => ((await page.textContent('.msg.assistant .text')) ?? '').length > 20, 60_000), 'the answer streams in');
    await page.click('#chat-stop-button');
    const answer = page.locator('.msg.assistant[data-outcome]').last();
    await answer.waitFor();
    t.equal(await answer.getAttribute('data-outcome'), 'stopped');
    t.ok(await until(async () => (await ps(svc.url)).find((m) => m.id === 'endless')?.inFlight === 0), 'nothing is in flight on the server any more');
    // The agent's log records the generation as cancelled by the client.
    const cancelled = () => readFileSync(logFile(svc.home), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
      .find((l) => l.model === 'endless' && /ended early/.test(l.msg));
    t.ok(await until(() => cancelled() !== undefined), 'the agent logged the generation ending early');
    t.equal(cancelled()?.error, 'cancelled', 'cancelled');
    const a = await counter(svc.url, 'crucible_tokens_generated_total', 'endless');
    t.ok(a > 0, 'the stopped generation\'s tokens were counted as they streamed');
    await new Promise((r) => setTimeout(r, 500));
    t.equal(await counter(svc.url, 'crucible_tokens_generated_total', 'endless'), a, 'and no more are generated');
    t.ok(await page.isEnabled('#chat-send'), 'the page is ready for the next message');
  });

  t.test('the metrics view charts the tokens generated', async (t) => {
    await page.click('#tab-metrics');
    const total = await counter(svc.url, 'crucible_tokens_generated_total', STORIES_ID);
    t.equal(total, 80 + structuredTokens, 'the page\'s chats and the test\'s reference request');
    const cell = `#metrics-totals tr[data-model="${STORIES_ID}"] [data-col="tokens"]`;
    await page.waitForSelector(cell);
    t.equal(Number(await page.textContent(cell)), total, 'the page shows the same total as /metrics');
    t.ok(await until(async () => Number(await page.getAttribute('#chart-tokens canvas', 'data-max')) > 0), 'the tokens-per-second chart has the generation in it');
    t.match(await page.textContent('#chart-tokens .legend'), STORIES_ID);
    await page.screenshot({ path: join(SHOTS, 'metrics.png'), fullPage: true });
  });

  t.test('OCR: lines and their boxes over the image', async (t) => {
    await page.keyboard.press('Alt+4');
    const png = await renderText(['Invoice 4711 paid', 'Total due: 129.50 EUR']);
    await page.setInputFiles('#ocr-file', { name: 'invoice.png', mimeType: 'image/png', buffer: png });
    await page.waitForSelector('#ocr-lines li >> nth=1');
    t.same(await page.locator('#ocr-lines .ocr-text').allTextContents(), ['Invoice 4711 paid', 'Total due: 129.50 EUR']);
    t.equal(await page.locator('#ocr-stage polygon').count(), 2, 'a box per line over the image');
    await page.screenshot({ path: join(SHOTS, 'ocr.png'), fullPage: true });
  });

  t.test('a phone in the dark', async (t) => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
    const phoneSeen = watch(phone);
    for (const view of ['models', 'chat', 'metrics']) {
      await phone.goto(`${svc.url}/#${view}`);
      await phone.waitForSelector('body[data-ready="true"]');
      await phone.waitForSelector(`#view-${view}:not([hidden])`);
      t.ok(await phone.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), `${view}: nothing wider than the screen`);
      await phone.screenshot({ path: join(SHOTS, `phone-dark-${view}.png`), fullPage: true });
    }
    t.equal(await phone.evaluate("getComputedStyle(document.body).backgroundColor"), 'rgb(15, 18, 22)', 'the dark theme follows the system');
    t.same(phoneSeen.errors, []);
    await phone.close();
  });

  t.same(seen.errors, [], 'no console errors');
});

t.test('with API keys on, the page asks for a key and keeps it only in the tab', async (t) => {
  const svc = await startTestService(t, ['--api-keys', 'console-key']);
  const browser = await launch(t);
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page);
  const statuses: number[] = [];
  page.on('response', (r) => { if (r.url().includes('/openai/')) statuses.push(r.status()); });

  t.equal((await page.goto(`${svc.url}/`))?.status(), 200, 'the page itself needs no key');
  await page.waitForSelector('#key-dialog[open]');
  t.ok(statuses.includes(401), 'the API answered 401 without a key');
  t.ok(await page.isHidden('#key-error'), 'a first visit shows no error, just the question');
  t.notOk(await page.$('body[data-ready="true"]'));
  await page.screenshot({ path: join(SHOTS, 'api-key.png') });

  await page.fill('#key-input', 'wrong-key');
  await page.press('#key-input', 'Enter');
  await page.waitForSelector('#key-dialog[open] #key-error:not([hidden])');
  t.equal(await page.textContent('#key-error'), 'The key was refused.');

  await page.fill('#key-input', 'console-key');
  await page.press('#key-input', 'Enter');
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector(`#ps-table ${row(STORIES_ID)}`);
  t.notOk(await page.$('#key-dialog[open]'), 'the dialog closes');
  t.equal(await page.evaluate("sessionStorage.getItem('crucible.apiKey')"), 'console-key', 'the key is in sessionStorage');
  t.equal(await page.evaluate('localStorage.length'), 0, 'and nothing in localStorage');
  t.notOk(await page.evaluate("document.cookie"), 'nor in cookies');

  // The chat works with the key; its code sample names the key without showing it.
  await page.click('#tab-chat');
  await page.waitForSelector(`#chat-model option[value="${STORIES_ID}"]`, { state: 'attached' });
  await page.fill('#chat-max-tokens', '12');
  await page.fill('#chat-input', 'Once upon a time');
  await page.click('#chat-send');
  const answer = page.locator('.msg.assistant[data-outcome]').last();
  await answer.waitFor();
  t.equal(await answer.locator('.text').textContent(), ', there was a little girl named Lily. She');
  t.notMatch(await page.textContent('#chat-curl'), 'console-key', 'the code shows no key');
  t.match(await page.textContent('#chat-curl'), '$CRUCIBLE_API_KEY');

  await page.click('#tab-metrics');
  await page.waitForSelector(`#metrics-totals tr[data-model="${STORIES_ID}"]`);
  t.equal(await page.textContent('#metrics-status'), 'live', 'the metrics feed takes the key too');

  // A new tab of the same browser context keeps nothing: sessionStorage is per tab.
  const other = await context.newPage();
  await other.goto(`${svc.url}/`);
  await other.waitForSelector('#key-dialog[open]');
  t.pass('a new tab asks again');
  await other.close();

  const unexpected = seen.errors.filter((e) => !/status of 401/.test(e));
  t.same(unexpected, [], 'no console errors but the 401s');
});

t.test('the console\'s routes, the metrics feed and --no-ui', async (t) => {
  const svc = await startTestService(t);
  t.equal((await fetch(`${svc.url}/console/main.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
  for (const path of ['/console/..%2Fpackage.json', '/console/nope.js', '/console/tsconfig.json']) {
    t.equal((await fetch(`${svc.url}${path}`)).status, 404, `${path}: 404`);
  }
  const bad = await fetch(`${svc.url}/metrics/live?interval=0`);
  t.equal(bad.status, 400, 'a bad interval gets 400');
  t.match(await bad.json(), { error: { param: 'interval', message: /interval/ } });

  await fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'stories260k', messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 7 }),
  });
  const once = await (await fetch(`${svc.url}/metrics/live?once=1`)).json() as any;
  t.match(once, { time: Number, intervalSeconds: null, models: [{ model: STORIES_ID, tokensTotal: 7, firstTokens: 1, queued: 0, inFlight: 0, tokensPerSecond: null }] });
  t.equal(once.models[0].tokensTotal, await counter(svc.url, 'crucible_tokens_generated_total', STORIES_ID), 'the same figure as /metrics');

  // Two frames of the stream: the second has an interval and rates.
  const ac = new AbortController();
  const res = await fetch(`${svc.url}/metrics/live?interval=0.25`, { signal: ac.signal });
  t.equal(res.headers.get('content-type'), 'text/event-stream');
  const reader = res.body!.getReader();
  let text = '';
  while ((text.match(/\n\n/g) ?? []).length < 2) text += new TextDecoder().decode((await reader.read()).value);
  ac.abort();
  const frames = text.split('\n\n').filter((f) => f.startsWith('data: ')).map((f) => JSON.parse(f.slice(6)));
  t.equal(frames[0].intervalSeconds, null);
  t.ok(frames[1].intervalSeconds > 0);
  t.equal(frames[1].models[0].tokensPerSecond, 0, 'no tokens between the frames');

  // The console calls its own origin: that works whatever --cors-origins allows.
  const closed = await startTestService(t, ['--cors-origins', 'none']);
  const post = (origin: string) => fetch(`${closed.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ model: 'stories260k', messages: [{ role: 'user', content: 'x' }], max_tokens: 2 }),
  });
  t.equal((await post(closed.url)).status, 200, 'a page of the service itself may POST');
  t.equal((await post(`http://localhost:${closed.port + 1}`)).status, 403, 'a page of another local origin may not');

  const off = await startTestService(t, ['--no-ui']);
  t.equal((await fetch(`${off.url}/`)).status, 404, '--no-ui: no console at /');
  t.equal((await fetch(`${off.url}/console/main.js`)).status, 404);
  t.equal((await fetch(`${off.url}/metrics/live?once=1`)).status, 200, 'the documented feed stays');
});
