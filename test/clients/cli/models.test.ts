import t from 'tap';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startModelServer } from '../../helpers/model-server.js';
import { crucible } from '../../helpers/run.js';
import { tempHome } from '../../helpers/service.js';

t.test('crucible model list, model download, cache list, cache remove', async (t) => {
  const server = await startModelServer(['none', 'slow']);
  const home = tempHome();
  t.teardown(async () => {
    await crucible(home, 'service', 'stop');
    await server.close();
    rmSync(home, { recursive: true, force: true });
  });
  const start = await crucible(home, 'service', 'start', '--catalog-url', server.catalogUrl);
  t.equal(start.status, 0, start.stderr);

  const list = await crucible(home, 'model', 'list');
  t.equal(list.status, 0, list.stderr);
  t.match(list.stdout, /stories260k\s+stories260k-generic-cpu:1\s+CPU\s+1 MB\s+yes\s+MIT/);
  t.match(list.stdout, /qwen2\.5-0\.5b\s+qwen2\.5-0\.5b-instruct-generic-cpu:1/);
  t.match(list.stdout, /tiny-slow\s+tiny-slow:1/);

  const dl = await crucible(home, 'model', 'download', 'tiny-slow');
  t.equal(dl.status, 0, dl.stderr);
  t.match(dl.stderr, /100% \| 1\.\d\/1\.\d MB \| [\d.]+ MB\/s \| ETA \S+ \| onnx\/model\.onnx/, 'the bar shows bytes, percent, rate and time left');
  t.match(dl.stdout, /Downloaded tiny-slow:1/);

  const cached = await crucible(home, 'cache', 'list');
  t.match(cached.stdout, /tiny-slow:1\s+tiny-slow\s+cached\s+tiny-slow-1/);
  const location = await crucible(home, 'cache', 'location');
  t.equal(location.stdout.trim(), join(home, 'cache', 'models'));

  t.equal((await crucible(home, 'model', 'load', 'tiny-slow')).status, 0);
  const refused = await crucible(home, 'cache', 'remove', 'tiny-slow');
  t.equal(refused.status, 1);
  t.match(refused.stderr, /is loaded; unload it first or remove with force/);
  const removed = await crucible(home, 'cache', 'remove', 'tiny-slow', '--force');
  t.equal(removed.status, 0, removed.stderr);
  t.notOk(existsSync(join(home, 'cache', 'models', 'tiny-slow-1')));

  const missing = await crucible(home, 'model', 'download', 'nothing-like-this');
  t.equal(missing.status, 1);
  t.match(missing.stderr, /not in the catalog/);
});
