import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { run } from '../../helpers/run.js';
import { GREEDY, REPO, startTestService, storiesOf } from '../../helpers/service.js';

/** The first python3 that can import msgpack (pyenv shims first, then Debian's); fails the test otherwise. */
function python(t: { fail(msg: string): void }): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import msgpack'], { encoding: 'utf8' }).status === 0) return py;
  }
  t.fail('no python3 with msgpack: run scripts/ensure-test-deps.sh');
  return null;
}

t.test('the Python client streams, counts, multiplexes and cancels against a real agent', async (t) => {
  const py = python(t);
  if (!py) return;
  const svc = await startTestService(t);
  const driver = await run(py, [join(REPO, 'test', 'clients', 'python', 'driver.py'), svc.home]);
  t.equal(driver.status, 0, driver.stderr);
  const out = JSON.parse(driver.stdout);
  t.equal(out.status.protocolVersion, 1);
  t.same(out.load, { model: 'stories260k-generic-cpu:1' });
  t.ok(out.streamed.trimStart().startsWith(GREEDY.slice(0, 75).trimStart()), JSON.stringify(out.streamed));
  t.equal(out.whole, out.streamed);
  t.equal(out.count, 5);
  t.same(out.concurrent, out.sequential, 'concurrent streams are complete and unmixed');
  t.equal(out.cancelled_after, 5);
  t.match(out.error, { code: 'model_not_found', type: 'invalid_request_error' });
  t.equal(out.after_error, 1);
  // The cancelled stream did not keep generating.
  t.equal(storiesOf(await svc.agent.modelInfo()).inFlight, 0);
});

t.test('the example program streams a chat completion', async (t) => {
  const py = python(t);
  if (!py) return;
  const svc = await startTestService(t);
  const example = await run(py, [join(REPO, 'clients', 'python', 'stream_chat.py'), '--home', svc.home, '--max-tokens', '12', 'Once upon a time']);
  t.equal(example.status, 0, example.stderr);
  t.equal(example.stdout, ', there was a little girl named Lily. She\n');
});

t.test('a client written from the protocol document alone streams a completion', async (t) => {
  const py = python(t);
  if (!py) return;
  const svc = await startTestService(t);
  const r = await run(py, [join(REPO, 'test', 'clients', 'python', 'from_spec.py'), svc.home]);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, ', there was a little girl named Lily. She\n');
});
