import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GREEDY, REPO, linkEndless, startTestService, tempHome, until } from '../../helpers/service.js';
import { startVariantCatalog } from '../../helpers/variant-catalog.js';

const HERE = join(REPO, 'test', 'clients', 'python');

/** Runs python3 (the standard library alone: the SDK needs no msgpack) without blocking the agent in this process. */
function python(args: string[], env: Record<string, string> = {}, timeout = 120_000): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('python3', args, { encoding: 'utf8', timeout, env: { ...process.env, CRUCIBLE_PURE_MSGPACK: '1', ...env } }, (err, stdout, stderr) =>
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

t.test("seed 004's flow with the sync and the async Python manager", async (t) => {
  const cat = await startVariantCatalog();
  t.teardown(() => cat.close());
  for (const [mode, transport] of [['sync', 'pipe'], ['async', 'pipe'], ['sync', 'http'], ['async', 'http']] as const) {
    t.test(`${mode} over the ${transport}`, async (t) => {
      const svc = await startTestService(t, ['--catalog-url', cat.catalogUrl]);
      linkEndless(svc.config.modelsDir);
      const r = await python([join(HERE, 'sdk_flow.py'), mode, svc.home, transport]);
      t.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
      t.equal(out.mode, transport);
      t.same(out.variants, ['tiny-cuda-gpu:1', 'tiny-generic-cpu:1']);
      t.same(out.runnable, { 'tiny-generic-cpu:1': true, 'tiny-cuda-gpu:1': false });
      t.same(out.selection, ['tiny-generic-cpu:1', 'device'], 'the variant the agent itself would pick, and why');
      t.equal(out.gpu_selection, 'explicit');
      t.equal(out.not_found[0], 'model_not_found');
      t.match(out.not_found[1], /did you mean 'tiny'/);
      t.equal(out.cached_before, false);
      t.equal(out.cancelled, 'cancelled', 'the download was cancelled');
      t.ok(out.cancel_percent >= 30 && out.cancel_percent < 100, `half-way (${out.cancel_percent}%)`);
      t.equal(out.nothing_left, true, 'nothing half-written is left');
      t.equal(out.cached_after_cancel, false);
      t.equal(out.last_percent, 100);
      t.equal(out.cached, true);
      t.equal(out.in_cached_list, true);
      t.equal(out.loaded, true);
      t.ok(out.text.length > 30 && GREEDY.startsWith(out.text), `greedy text: ${JSON.stringify(out.text)}`);
      t.ok(out.tokens > 3);
      t.ok(mode === 'sync' ? out.stream_tokens === 5 : out.stream_tokens >= 5, `the stream stopped being read after 5 tokens (${out.stream_tokens})`);
      t.equal(out.stopped, true, 'ps shows the stream stopped on the agent');
      t.equal(out.still_loaded, 'loaded');
      t.equal(out.next_finish, 'length', 'the next chat works');
      t.equal(out.unloaded, true);
      const ps = (await svc.agent.modelInfo()).find((m) => m.id === 'endless')!;
      t.equal(ps.inFlight, 0);
    });
  }
});

t.test('Manager.create: a private agent with no TCP port, ending with its parent', async (t) => {
  const home = tempHome('cru-py-');
  t.teardown(() => {
    rmSync(home, { recursive: true, force: true });
    rmSync(`${home}-async`, { recursive: true, force: true });
  });
  const r = await python([join(HERE, 'sdk_create.py'), home]);
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  t.equal(out.mode, 'pipe');
  t.same(out.listening.tcp, [], 'the agent listens on no TCP port');
  t.same(out.listening_after_chat.tcp, []);
  t.same(out.listening.unix, [out.pipe], 'only its private socket');
  t.notOk(out.pipe.startsWith(home), 'the socket is outside any shared home');
  t.same(out.endpoints, []);
  t.ok(out.text.length > 30 && GREEDY.startsWith(out.text), 'chat works');
  t.match(out.openai_config, /serves no HTTP/);
  t.equal(out.pipe_removed, true);
  t.equal(out.agent_gone_after_close, true, 'close() stops the agent');
  t.equal(out.async_mode, 'pipe');
  t.equal(out.async_text, out.text, 'AsyncManager.create answers the same');

  // Killing the Python process (no chance to clean up) ends its agent too.
  const held = spawn('python3', [join(HERE, 'sdk_create.py'), join(home, 'held'), 'hold'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { if (held.exitCode === null) held.kill('SIGKILL'); });
  const agentPid = await new Promise<number>((resolve) => held.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim()))));
  t.ok(alive(agentPid), 'the private agent runs');
  held.kill('SIGKILL');
  t.ok(await until(() => !alive(agentPid), 15_000), 'and exits when its parent dies');
});

t.test('Manager.connect(auto_start=True) from 4 threads starts one shared agent', async (t) => {
  const home = tempHome('cru-py-auto-');
  let pid = 0;
  t.teardown(async () => {
    if (pid && alive(pid)) {
      process.kill(pid, 'SIGTERM');
      await until(() => !alive(pid), 15_000);
    }
    rmSync(home, { recursive: true, force: true });
  });
  const r = await python([join(HERE, 'sdk_create.py'), home, 'autostart']);
  t.equal(r.status, 0, r.stderr);
  const results = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { started: boolean; mode: string; pid: number }[];
  pid = results[0].pid;
  t.equal(results.filter((x) => x.started).length, 1, 'one thread started it');
  t.ok(results.every((x) => x.pid === pid && x.mode === 'pipe'), 'all four reach the same agent over the pipe');
  t.ok(alive(pid), 'the shared agent outlives the Python process');
});

t.test('the package installs with pip from the repository', async (t) => {
  const target = mkdtempSync(join(tmpdir(), 'cru-pip-'));
  t.teardown(() => rmSync(target, { recursive: true, force: true }));
  const pip = await python(['-m', 'pip', 'install', '--quiet', '--no-deps', '--no-index', '--target', target, join(REPO, 'clients', 'python')], {}, 180_000);
  t.equal(pip.status, 0, pip.stderr);
  t.ok(existsSync(join(target, 'crucible', '__init__.py')), 'the crucible package is installed');
  const imp = await python(['-c', 'import crucible, sys; print(crucible.__file__); print(sorted(m for m in sys.modules if m in ("msgpack", "openai", "pydantic")))'], { PYTHONPATH: target });
  t.equal(imp.status, 0, imp.stderr);
  t.match(imp.stdout, new RegExp(`^${target}/crucible/__init__\\.py\\n\\[\\]`), 'imports from the install, with no third-party module');
});
