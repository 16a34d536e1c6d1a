import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, tempHome } from '../../helpers/service.js';

const CLI = join(REPO, 'build', 'clients', 'cli', 'main.js');
const crucible = (home: string, ...args: string[]) =>
  spawnSync(process.execPath, [CLI, '--home', home, ...args], { encoding: 'utf8', timeout: 60_000 });

t.test('crucible service start, status, run and stop in a temporary home', async (t) => {
  const home = tempHome();
  t.teardown(() => {
    crucible(home, 'service', 'stop');
    rmSync(home, { recursive: true, force: true });
  });

  const before = crucible(home, 'service', 'status');
  t.equal(before.status, 1, 'status fails while nothing runs');
  t.match(before.stdout, /not running/);

  const start = crucible(home, 'service', 'start');
  t.equal(start.status, 0, start.stderr);
  t.match(start.stdout, /Crucible started on http:\/\/127\.0\.0\.1:\d+/);
  const info = JSON.parse(readFileSync(join(home, 'service.json'), 'utf8'));
  t.match(info, { pid: Number, endpoints: [/^http:\/\/127\.0\.0\.1:\d+$/], pipeName: join(home, 'crucible.sock'), modelDirPath: join(home, 'cache', 'models') });
  t.equal(statSync(info.pipeName).mode & 0o777, 0o600, 'the socket is private to its owner');

  const again = crucible(home, 'service', 'start');
  t.equal(again.status, 0);
  t.match(again.stdout, /already running/);

  const status = crucible(home, 'service', 'status');
  t.equal(status.status, 0);
  t.match(status.stdout, new RegExp(`running on ${info.endpoints[0]}/openai/status.*over the pipe`));

  const run = crucible(home, 'run', 'stories260k', 'Once upon a time', '--max-tokens', '12', '--temperature', '0');
  t.equal(run.status, 0, run.stderr);
  t.equal(run.stdout, ', there was a little girl named Lily. She\n');

  // Without the pipe, status falls back to HTTP.
  renameSync(info.pipeName, info.pipeName + '.away');
  const viaHttp = crucible(home, 'service', 'status');
  t.equal(viaHttp.status, 0);
  t.match(viaHttp.stdout, /checked over the http/);
  renameSync(info.pipeName + '.away', info.pipeName);

  const ps = crucible(home, 'service', 'ps');
  t.match(ps.stdout, /stories260k-generic-cpu:1\s+loaded\s+ep=cpu mem=[\d.]+MB in-flight=0 ttl-left=\d+s/);

  const fused = crucible(home, 'model', 'optimize', 'stories260k');
  t.equal(fused.status, 0, fused.stderr);
  t.match(fused.stdout, /Fused stories260k-generic-cpu:1: 921 -> \d+ graph nodes/);
  const fusedRun = crucible(home, 'run', 'stories260k-fused', 'Once upon a time', '--max-tokens', '12', '--temperature', '0');
  t.equal(fusedRun.stdout, ', there was a little girl named Lily. She\n', 'the fused model answers the same');

  const stop = crucible(home, 'service', 'stop');
  t.equal(stop.status, 0);
  t.match(stop.stdout, /stopped/);
  t.notOk(existsSync(join(home, 'service.json')), 'service.json is removed on shutdown');
  t.notOk(existsSync(info.pipeName), 'the socket is removed on shutdown');
  t.equal(crucible(home, 'service', 'status').status, 1);
});
