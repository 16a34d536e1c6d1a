import t from 'tap';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeTinyEncoder } from '../../helpers/encoder-models.js';
import { CLI, crucible } from '../../helpers/run.js';
import { tempHome } from '../../helpers/service.js';

t.test('crucible embed prints one vector a line, from arguments or from stdin', async (t) => {
  const home = tempHome();
  t.teardown(async () => {
    await crucible(home, 'service', 'stop');
    rmSync(home, { recursive: true, force: true });
  });
  t.equal((await crucible(home, 'service', 'start')).status, 0);
  writeTinyEncoder(join(home, 'cache', 'models', 'tiny-mean'), { pooling: 'mean' });
  const r = await crucible(home, 'embed', 'tiny-mean', 'Once upon a time', 'The cat sat on the mat.');
  t.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as number[]);
  t.equal(lines.length, 2);
  t.equal(lines[0].length, 32);
  t.ok(Math.abs(Math.hypot(...lines[0]) - 1) < 1e-5, 'normalized as the folder says');
  const piped = await new Promise<string>((resolve, reject) => {
    const child = execFile(process.execPath, [CLI, '--home', home, 'embed', 'tiny-mean', '--json'], { encoding: 'utf8' }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    child.stdin!.end('Once upon a time\n\nThe cat sat on the mat.\n');
  });
  const json = JSON.parse(piped) as { model: string; prompt_tokens: number; embeddings: number[][] };
  t.equal(json.embeddings.length, 2, 'a text a line, the blank one skipped');
  t.same(json.embeddings, lines, 'the same vectors');
  t.ok(json.prompt_tokens > 8);
  const cut = await crucible(home, 'embed', 'tiny-mean', 'a cat', '--dimensions', '4');
  t.equal(cut.status, 1, 'dimensions on a model that does not declare them');
  t.match(cut.stderr, /matryoshka/);
  t.equal((await crucible(home, 'embed')).status, 2, 'usage');
});
