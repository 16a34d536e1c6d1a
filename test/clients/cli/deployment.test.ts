import t from 'tap';
import { crucible } from '../../helpers/run.js';
import { startTestService, storyRequest, until } from '../../helpers/service.js';

t.test('crucible deployment create, list, patch, keys (and rotate), delete', async (t) => {
  const svc = await startTestService(t);
  const create = await crucible(svc.home, 'deployment', 'create', 'tales', '--model', 'stories260k', '--replicas', '2', '--auth', '--env', 'A=1');
  t.equal(create.status, 0, create.stderr);
  t.match(create.stdout, `Created default/tales`);
  t.match(create.stdout, `${svc.url}/deployments/tales`);
  t.ok(await until(async () => /tales\s+Running\s+2\/2\s+keys\s+stories260k/.test((await crucible(svc.home, 'deployment', 'list')).stdout), 60_000), 'list shows it running with 2 of 2 ready');

  const keys = await crucible(svc.home, 'deployment', 'keys', 'tales');
  t.equal(keys.status, 0, keys.stderr);
  const pair = JSON.parse(keys.stdout);
  t.match(pair.primaryKey.value, /^fndry-pk-/);
  const chat = (key: string) => fetch(`${svc.url}/deployments/tales/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(storyRequest({ max_tokens: 4 })),
  }).then((r) => r.status);
  t.equal(await chat(pair.primaryKey.value), 200);
  const rotate = await crucible(svc.home, 'deployment', 'keys', 'tales', 'rotate', 'primary');
  t.equal(rotate.status, 0, rotate.stderr);
  const fresh = JSON.parse(rotate.stdout).key.value;
  t.match(fresh, /^[0-9a-f]{64}$/);
  t.equal(await chat(pair.primaryKey.value), 401, 'the rotated-out key is refused');
  t.equal(await chat(fresh), 200);

  const patch = await crucible(svc.home, 'deployment', 'patch', 'tales', '--replicas', '1');
  t.equal(patch.status, 0, patch.stderr);
  t.match(patch.stdout, 'Patched default/tales: 1 replica(s)');
  const json = JSON.parse((await crucible(svc.home, 'deployment', 'list', '--json')).stdout);
  t.same(json.map((d: any) => [d.name, d.spec.replicas, d.spec.env]), [['tales', 1, [{ name: 'A', value: '1' }]]]);

  const bad = await crucible(svc.home, 'deployment', 'create', 'Bad_Name', '--model', 'stories260k');
  t.equal(bad.status, 1);
  t.match(bad.stderr, /ValidationError: Request validation failed\n\s+name: /, 'field-level errors are shown');
  const dup = await crucible(svc.home, 'deployment', 'create', 'tales', '--model', 'stories260k');
  t.match(dup.stderr, /Conflict/);

  const del = await crucible(svc.home, 'deployment', 'delete', 'tales');
  t.equal(del.status, 0, del.stderr);
  t.match((await crucible(svc.home, 'deployment', 'list')).stdout, 'No deployments.');
  const missing = await crucible(svc.home, 'deployment', 'keys', 'tales');
  t.equal(missing.status, 1);
  t.match(missing.stderr, /NotFound/);
  t.equal((await crucible(svc.home, 'deployment', 'frobnicate')).status, 2);
});
