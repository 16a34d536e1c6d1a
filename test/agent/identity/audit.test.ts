import t from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PipeClient } from '../../../clients/typescript/pipe-client.js';
import { rotateKey } from '../../../agent/keys.js';
import { startTestService, storyRequest, tempHome, until } from '../../helpers/service.js';
import { TestIssuer } from '../../helpers/oidc.js';

const records = (home: string) => readFileSync(join(home, 'audit.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

t.test('with authentication on, the pipe\'s management calls and configuration reloads are audited too', async (t) => {
  const issuer = await TestIssuer.start();
  t.teardown(() => issuer.close());
  const dir = tempHome();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const keysFile = join(dir, 'keys.json');
  const roles = join(dir, 'roles.json');
  writeFileSync(roles, JSON.stringify({ 'oid-ops': ['reader'] }));
  const svc = await startTestService(t, ['--api-keys-file', keysFile, '--oidc-issuer', issuer.url, '--oidc-audience', 'api://crucible', '--role-assignments-file', roles]);
  const pipe = await PipeClient.connect(svc.pipeName);
  t.teardown(() => pipe.close());

  await pipe.load('stories260k');
  await pipe.unload('stories260k');
  await t.rejects(pipe.load('no-such-model'), { code: 'model_not_found' });
  await pipe.chat(storyRequest({ max_tokens: 2 }) as never);
  const pipeRecords = records(svc.home).filter((r) => r.actor.id === 'pipe');
  t.match(pipeRecords, [
    { actor: { kind: 'local', id: 'pipe' }, action: 'models/write', resource: 'pipe models.load', outcome: 'allowed', status: 200, requestId: String, time: String },
    { action: 'models/write', resource: 'pipe models.unload', status: 200 },
    { action: 'models/write', resource: 'pipe models.load', status: 404, reason: 'model_not_found' },
  ]);
  t.equal(pipeRecords.length, 3, 'one record per management call; a chat is not one');

  // `crucible service keys rotate` writes the file; the running agent picks it up: a reload, audited.
  const rotated = rotateKey(keysFile, 'secondary').key.value;
  const ok = async () => (await fetch(`${svc.url}/v1/models`, { headers: { authorization: `Bearer ${rotated}` } })).status === 200;
  t.ok(await until(ok), 'the rotated key is accepted');
  t.match(records(svc.home).filter((r) => r.resource.startsWith('reload')), [{ actor: { kind: 'local', id: 'api-keys-file' }, resource: `reload ${keysFile}`, outcome: 'allowed' }]);

  // The role-assignments file is re-read when it changes: also a reload.
  const token = await issuer.token({ aud: 'api://crucible', oid: 'oid-ops' });
  t.equal((await fetch(`${svc.url}/openai/unloadall`, { headers: { authorization: `Bearer ${token}` } })).status, 403, 'a reader');
  writeFileSync(roles, JSON.stringify({ 'oid-ops': ['contributor'] }));
  const promoted = async () => (await fetch(`${svc.url}/openai/unloadall`, { headers: { authorization: `Bearer ${token}` } })).status === 200;
  t.ok(await until(promoted), 'the new assignment counts from the next request after the change');
  t.ok(records(svc.home).some((r) => r.actor.id === 'role-assignments' && r.resource === `reload ${roles}`), 'the reload audited');

  const text = readFileSync(join(svc.home, 'audit.log'), 'utf8');
  t.notOk(text.includes(rotated) || text.includes(token), 'no secret in the audit log');
});
