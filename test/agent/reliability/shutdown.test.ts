import t from 'tap';
import { readRest } from '../../helpers/streams.js';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { crucible } from '../../helpers/run.js';
import { linkEndless, slowStream, tempHome } from '../../helpers/service.js';

t.test('SIGTERM ends in-flight streams with an error and removes service.json and the socket', async (t) => {
  const home = tempHome();
  t.teardown(async () => {
    await crucible(home, 'service', 'stop');
    rmSync(home, { recursive: true, force: true });
  });
  // A stream on the endless model is surely still running when the stop arrives.
  mkdirSync(join(home, 'cache', 'models'), { recursive: true });
  linkEndless(join(home, 'cache', 'models'));
  t.equal((await crucible(home, 'service', 'start')).status, 0);
  const info = JSON.parse(readFileSync(join(home, 'service.json'), 'utf8'));
  const res = await fetch(`${info.endpoints[0]}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(slowStream()),
  });
  const reader = res.body!.getReader();
  await reader.read();
  const stopping = crucible(home, 'service', 'stop');
  const text = await readRest(reader);
  const stop = await stopping;
  t.equal(stop.status, 0, stop.stdout + stop.stderr);
  t.match(text, /"code":"shutting_down"/, 'the stream was told why it ended');
  t.notMatch(text, /\[DONE\]/);
  t.notOk(existsSync(join(home, 'service.json')));
  t.notOk(existsSync(info.pipeName));
});
