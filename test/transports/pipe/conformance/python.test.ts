import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { run } from '../../../helpers/run.js';
import { REPO } from '../../../helpers/service.js';
import { startConformanceAgent } from './agent.js';

const RUNNER = join(REPO, 'test', 'transports', 'pipe', 'conformance', 'runner.py');

/** The first python3 that can import msgpack (as the Python client's tests look for it). */
function python(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import msgpack'], { encoding: 'utf8' }).status === 0) return py;
  }
  return null;
}

t.test('the pipe conformance cases pass through the Python runner', async (t) => {
  const py = python();
  if (!py) {
    t.fail('no python3 with msgpack: run scripts/ensure-test-deps.sh');
    return;
  }
  const svc = await startConformanceAgent(t);
  const args = [RUNNER, '--home', svc.home, ...(process.env.CONFORMANCE_CASE ? ['--only', process.env.CONFORMANCE_CASE] : [])];
  const r = await run(py, args, 110_000);
  const lines = r.stdout.split('\n');
  const results = lines.filter((l) => /^(not )?ok \d+ - /.test(l));
  t.ok(results.length >= (process.env.CONFORMANCE_CASE ? 1 : 40), `${results.length} cases ran`);
  for (const line of results) t.ok(line.startsWith('ok '), line);
  t.equal(r.status, 0, `the runner exits 0 (${(lines.at(-2) ?? '').replace(/^# /, '')})${r.stderr ? `: ${r.stderr}` : ''}`);
});
