import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderText } from '../../helpers/images.js';
import { crucible } from '../../helpers/run.js';
import { tempHome } from '../../helpers/service.js';

t.test('crucible predict prints the text read from a PNG', async (t) => {
  const home = tempHome();
  t.teardown(async () => {
    await crucible(home, 'service', 'stop');
    rmSync(home, { recursive: true, force: true });
  });
  const file = join(home, 'note.png');
  writeFileSync(file, await renderText(['Meet at 10:30 in room B']));
  t.equal((await crucible(home, 'service', 'start')).status, 0);
  const r = await crucible(home, 'predict', 'pp-ocrv4', file);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, 'Meet at 10:30 in room B\n');
  const usage = await crucible(home, 'predict', 'pp-ocrv4');
  t.equal(usage.status, 2);
});
