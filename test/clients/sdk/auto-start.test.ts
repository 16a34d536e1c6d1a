import t from 'tap';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CrucibleManager } from '../../../clients/typescript/sdk/index.js';
import { tempHome, until } from '../../helpers/service.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

t.test('4 concurrent connect({autoStart}) calls start exactly one agent', async (t) => {
  const home = tempHome('cru-auto-');
  let pid = 0;
  t.teardown(async () => {
    if (pid && alive(pid)) {
      process.kill(pid, 'SIGTERM');
      await until(() => !alive(pid), 15_000);
    }
    rmSync(home, { recursive: true, force: true });
  });
  await t.rejects(CrucibleManager.connect({ home }), { code: 'connection_closed', message: /autoStart/ }, 'without autoStart nothing is started');

  const managers = await Promise.all([1, 2, 3, 4].map(() => CrucibleManager.connect({ home, autoStart: true })));
  t.teardown(() => Promise.all(managers.map((m) => m.close())));
  t.equal(managers.filter((m) => m.started).length, 1, 'one call started the agent');
  const pids = await Promise.all(managers.map(async (m) => (await m.client.status()).pid));
  pid = pids[0];
  t.same(pids, [pid, pid, pid, pid], 'all four talk to the same agent');
  t.not(pid, process.pid, 'in its own process');
  t.equal(JSON.parse(readFileSync(join(home, 'service.json'), 'utf8')).pid, pid);
  t.ok(managers.every((m) => m.mode === 'pipe'), 'over the pipe');
  t.equal(readFileSync(join(home, 'agent.log'), 'utf8').match(/"crucible started"/g)?.length, 1, 'the log shows one start');
  t.notOk(existsSync(join(home, 'start.lock')), 'the start lock is released');

  // The next connect finds it without starting anything.
  const later = await CrucibleManager.connect({ home, autoStart: true, transport: 'http' });
  t.equal(later.started, false);
  t.equal(later.mode, 'http');
  t.match(later.openAIConfig().baseURL, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  await later.close();
});

t.test('an agent that cannot start is reported with its log and exit code', async (t) => {
  const home = tempHome('cru-auto-bad-');
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  await t.rejects(CrucibleManager.connect({ home, autoStart: true, agentArgs: ['--max-batch', '0'] }), {
    code: 'agent_start_failed',
    message: new RegExp(`exit code 2; see its log ${join(home, 'agent.log').replace(/[.]/g, '\\.')}[\\s\\S]*--max-batch must be at least 1`),
  });
});
