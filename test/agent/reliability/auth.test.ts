import t from 'tap';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../../agent/config.js';
import { rotateKey } from '../../../agent/keys.js';
import { logFile } from '../../../agent/log.js';
import { startService } from '../../../agent/service.js';
import { crucible } from '../../helpers/run.js';
import { startTestService, storyRequest, tempHome } from '../../helpers/service.js';

const chat = (url: string, headers: Record<string, string>) => fetch(`${url}/v1/chat/completions`, {
  method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(storyRequest({ max_tokens: 3 })),
});

t.test('with a keys file every endpoint but the probes needs a key; rotation needs no restart', async (t) => {
  const keysHome = tempHome();
  t.teardown(() => rmSync(keysHome, { recursive: true, force: true }));
  const file = join(keysHome, 'keys.json');
  const svc = await startTestService(t, ['--api-keys-file', file]);
  t.equal(statSync(file).mode & 0o777, 0o600, 'the keys file is private');
  const keys = JSON.parse(readFileSync(file, 'utf8'));
  t.match(keys.primaryKey.value, /^fndry-pk-[0-9a-f-]{36}$/);
  t.match(keys.secondaryKey.value, /^fndry-sk-[0-9a-f-]{36}$/);

  for (const path of ['/health', '/healthz', '/ready', '/readyz']) t.equal((await fetch(svc.url + path)).status, 200, `${path} stays open`);
  for (const path of ['/v1/models', '/openai/status', '/metrics', '/foundry/list']) {
    const res = await fetch(svc.url + path);
    t.equal(res.status, 401, `${path} needs a key`);
    t.match(await res.json(), { error: { code: 'missing_credentials', type: 'authentication_error' } });
  }
  const none = await chat(svc.url, {});
  t.equal(none.status, 401);
  const wrong = await chat(svc.url, { authorization: 'Bearer wrong' });
  t.equal(wrong.status, 401);
  t.match(await wrong.json(), { error: { code: 'invalid_api_key', type: 'authentication_error' } });
  t.equal((await chat(svc.url, { authorization: `Bearer ${keys.primaryKey.value}` })).status, 200, 'Authorization: Bearer');
  t.equal((await chat(svc.url, { 'api-key': keys.secondaryKey.value })).status, 200, 'api-key');
  t.equal((await chat(svc.url, { 'x-api-key': keys.primaryKey.value })).status, 200, 'X-API-KEY');

  // Clients move to the secondary key, the primary is rotated, nothing restarts.
  const rotated = rotateKey(file, 'primary');
  t.match(rotated, { keyType: 'primary', key: { value: /^[0-9a-f]{64}$/, createdAt: String } });
  await new Promise((r) => setTimeout(r, 300));
  t.equal((await chat(svc.url, { authorization: `Bearer ${keys.primaryKey.value}` })).status, 401, 'the old primary is refused');
  t.equal((await chat(svc.url, { authorization: `Bearer ${keys.secondaryKey.value}` })).status, 200, 'the secondary still works');
  t.equal((await chat(svc.url, { authorization: `Bearer ${rotated.key.value}` })).status, 200, 'the new primary works');

  const log = readFileSync(logFile(svc.home), 'utf8');
  t.notOk(log.includes(keys.primaryKey.value) || log.includes(keys.secondaryKey.value) || log.includes(rotated.key.value), 'keys never reach the log');
});

t.test('keys from the environment variable list', async (t) => {
  const svc = await startTestService(t, ['--api-keys', 'alpha-key, beta-key']);
  t.equal((await chat(svc.url, {})).status, 401);
  t.equal((await chat(svc.url, { authorization: 'Bearer beta-key' })).status, 200);
});

t.test('listening beyond loopback is refused without keys', async (t) => {
  const home = tempHome();
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  await t.rejects(startService(loadConfig(['--home', home, '--host', '0.0.0.0'], {}), { logToStderr: false }), /refusing to listen on 0\.0\.0\.0 without API keys/);
});

t.test('crucible service keys show and rotate, in seed 003 formats', async (t) => {
  const home = tempHome();
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const shown = await crucible(home, 'service', 'keys', 'show');
  t.equal(shown.status, 0, shown.stderr);
  const pair = JSON.parse(shown.stdout);
  t.match(pair, { primaryKey: { value: /^fndry-pk-/, createdAt: String }, secondaryKey: { value: /^fndry-sk-/, createdAt: String } });
  t.equal(statSync(pair.file).mode & 0o777, 0o600);
  const rot = await crucible(home, 'service', 'keys', 'rotate', 'secondary');
  t.equal(rot.status, 0);
  const r = JSON.parse(rot.stdout);
  t.match(r, { keyType: 'secondary', key: { value: /^[0-9a-f]{64}$/ } });
  const after = JSON.parse((await crucible(home, 'service', 'keys', 'show')).stdout);
  t.equal(after.secondaryKey.value, r.key.value);
  t.equal(after.primaryKey.value, pair.primaryKey.value, 'the other key is untouched');
  t.equal((await crucible(home, 'service', 'keys', 'rotate', 'tertiary')).status, 2);
});
