import t from 'tap';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { CrucibleManager } from '../../../clients/typescript/sdk/index.js';
import { renderText } from '../../helpers/images.js';
import { GREEDY, STORIES_ID, tempHome } from '../../helpers/service.js';

/** This process's listening sockets, from /proc: TCP ports and Unix socket paths. */
function listening(): { tcp: number[]; unix: string[] } {
  const mine = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) mine.add(m[1]);
    } catch {
      // The fd closed while we looked.
    }
  }
  const tcp: number[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').trim().split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // st 0A is LISTEN; the inode is the tenth column.
      if (f[3] === '0A' && mine.has(f[9])) tcp.push(parseInt(f[1].split(':')[1], 16));
    }
  }
  const unix: string[] = [];
  for (const line of readFileSync('/proc/net/unix', 'utf8').trim().split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Flags 00010000 is __SO_ACCEPTCON: a listening socket.
    if ((parseInt(f[3], 16) & 0x10000) !== 0 && mine.has(f[6])) unix.push(f[7] ?? '(unnamed)');
  }
  return { tcp: tcp.sort(), unix: unix.sort() };
}

t.test('embedded mode opens no port and no socket unless asked', async (t) => {
  const home = tempHome('cru-emb-');
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const before = listening();
  await using mgr = await CrucibleManager.create({ appName: 'embedded-test', home });
  t.equal(mgr.mode, 'embedded');
  const model = await mgr.catalog.getModel('stories260k');
  await model.load();
  const chat = model.getChatClient({ temperature: 0, maxTokens: 40 });
  const text = (await chat.completeChat([{ role: 'user', content: 'Once upon a time' }])).choices[0].message.content ?? '';
  t.ok(GREEDY.startsWith(text) && text.length > 30, 'chat works in process');
  t.same(listening(), before, 'no listening TCP port and no listening socket after create, load and chat');
  t.same(mgr.urls, []);
  t.notOk(existsSync(join(home, 'service.json')), 'nothing published');
  t.notOk(existsSync(join(home, 'crucible.sock')), 'no socket file');
  t.throws(() => mgr.openAIConfig(), { message: /startWebService/ });
  await t.rejects(model.isLoaded({ signal: AbortSignal.abort() }), { code: 'cancelled' }, 'an aborted signal stops a call');

  // A predictive model through the same object model.
  const ocr = await mgr.catalog.getModel('pp-ocrv4');
  const read = await ocr.getPredictClient().predict([{ contentType: 'image/png', data: await renderText(['Meet at 10:30']) }]);
  t.match(read.predictions[0], { text: /Meet at 10:30/ }, 'OCR reads the rendered text');

  // The same Hono app, on demand, serving the official openai client.
  const urls = await mgr.startWebService();
  t.equal(urls.length, 1);
  const port = Number(new URL(urls[0]).port);
  t.same(listening().tcp, [...before.tcp, port].sort(), 'one TCP port, the web service');
  const openai = new OpenAI(mgr.openAIConfig());
  const r = await openai.chat.completions.create({ model: 'stories260k', messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 40 });
  t.equal(r.choices[0].message.content, text, 'the openai client gets the same greedy text');
  t.equal(r.model, STORIES_ID);
  let streamed = '';
  for await (const c of await openai.chat.completions.create({ model: 'stories260k', messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 40, stream: true })) {
    streamed += c.choices[0]?.delta?.content ?? '';
  }
  t.equal(streamed, text);
  const viaUrl = await CrucibleManager.connect({ url: urls[0] });
  t.equal(viaUrl.mode, 'http', 'connect({url}) reaches the web service');
  t.equal((await viaUrl.catalog.getModel('stories260k')).id, STORIES_ID);
  await viaUrl.close();
  await mgr.stopWebService();
  t.same(listening(), before, 'the port is closed again');
  t.same(mgr.urls, []);
});

t.test("the package exports the SDK as 'crucible' and 'crucible/sdk'", async (t) => {
  // Specifiers through variables: resolved by Node from package.json's exports at run time.
  const [main, sdk] = ['crucible', 'crucible/sdk'];
  t.equal((await import(main)).CrucibleManager, CrucibleManager);
  t.equal((await import(sdk)).CrucibleManager, CrucibleManager);
});

t.test('one embedded agent per home; share publishes it for connect()', async (t) => {
  const home = tempHome('cru-share-');
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const mgr = await CrucibleManager.create({ home, share: true });
  t.teardown(() => mgr.close());
  await t.rejects(CrucibleManager.create({ home }), { code: 'home_in_use', message: /this process already runs an agent on/ }, 'a second one on the same home is refused');
  t.ok(existsSync(join(home, 'service.json')), 'service.json published');
  t.ok(listening().unix.includes(join(home, 'crucible.sock')), 'share listens on the socket (the check sees Unix sockets)');
  const other = await CrucibleManager.connect({ home });
  t.equal(other.mode, 'pipe', 'another client reaches it over the pipe');
  t.equal((await other.client.status()).pid, process.pid);
  t.ok((await other.catalog.getCachedModels()).some((v) => v.id === STORIES_ID));
  await other.close();

  // Two managers are two objects with their own configuration: no hidden singleton.
  const home2 = tempHome('cru-second-');
  t.teardown(() => rmSync(home2, { recursive: true, force: true }));
  const second = await CrucibleManager.create({ home: home2 });
  t.not(second, mgr);
  t.equal((await second.client.status()).modelDirPath, join(home2, 'cache', 'models'));
  await second.close();

  await mgr.close();
  t.notOk(listening().unix.includes(join(home, 'crucible.sock')), 'closing stops the socket');
  t.notOk(existsSync(join(home, 'service.json')), 'closing withdraws service.json');
  t.notOk(existsSync(join(home, 'agent.lock')), 'and releases the home');
  const again = await CrucibleManager.create({ home });
  t.pass('the home can be used again once closed');
  await again.close();
});
