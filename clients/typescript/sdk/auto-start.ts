import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CrucibleError } from '../../../protocol/errors.js';
import { processAlive as alive } from '../../../agent/home.js';

const AGENT_MAIN = fileURLToPath(new URL('../../../agent/main.js', import.meta.url));

export const agentLogPath = (home: string) => join(home, 'agent.log');


const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(timer); reject(new CrucibleError('cancelled', 'cancelled while waiting for the agent')); }, { once: true });
});

/** Takes `<home>/start.lock` (pid inside) unless a live process holds it; a dead holder's lock is taken over. */
function tryLock(file: string): boolean {
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    let owner = NaN;
    try {
      owner = Number(readFileSync(file, 'utf8').trim());
    } catch {
      return false;
    }
    // An empty file is a lock being written right now; only a named dead owner is stale.
    if (Number.isInteger(owner) && owner > 0 && !alive(owner)) rmSync(file, { force: true });
    return false;
  }
}

export interface StartOptions {
  home: string;
  /** Extra agent flags (`--catalog-url`, `--ttl` ...). */
  agentArgs?: string[];
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Finds a running agent with `tryConnect`, or starts one: under a start lock, so that concurrent
 * callers (threads of one process or several processes) start exactly one; the others wait until
 * it answers. Polls every 50 ms for up to `timeoutMs` (30 s). A failed start names the agent's log
 * and exit code. Resolves to what `tryConnect` gave and whether this call started the agent.
 */
export async function connectOrStart<C>(tryConnect: () => Promise<C | null>, opts: StartOptions): Promise<{ client: C; started: boolean }> {
  const { home } = opts;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const lock = join(home, 'start.lock');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  while (Date.now() < deadline) {
    const found = await tryConnect();
    if (found) return { client: found, started: false };
    if (!tryLock(lock)) {
      await sleep(50, opts.signal);
      continue;
    }
    try {
      // Someone may have finished starting it between our look and our lock.
      const late = await tryConnect();
      if (late) return { client: late, started: false };
      return { client: await spawnAgent(tryConnect, opts, deadline), started: true };
    } finally {
      rmSync(lock, { force: true });
    }
  }
  throw new CrucibleError('agent_start_failed', `no agent answered on ${home} within ${Math.round((opts.timeoutMs ?? 30_000) / 1000)} s; see ${agentLogPath(home)}`);
}

async function spawnAgent<C>(tryConnect: () => Promise<C | null>, opts: StartOptions, deadline: number): Promise<C> {
  const logFile = agentLogPath(opts.home);
  const log = openSync(logFile, 'a');
  const offset = fstatSync(log).size;
  const child = spawn(process.execPath, [AGENT_MAIN, '--home', opts.home, ...(opts.agentArgs ?? [])], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  child.once('exit', (code, signal) => { exit = { code, signal }; });
  child.once('error', () => { exit ??= { code: null, signal: null }; });
  while (Date.now() < deadline) {
    if (exit) break;
    const client = await tryConnect();
    if (client) return client;
    await sleep(50, opts.signal);
  }
  const tail = (() => {
    try {
      // What this start wrote: its first lines carry the reason (then come usage or a stack).
      return readFileSync(logFile).subarray(offset).toString('utf8').trim().split('\n').slice(0, 8).join('\n');
    } catch {
      return '';
    }
  })();
  const how = exit
    ? `the agent exited with ${(exit as { signal: string | null }).signal ? `signal ${(exit as { signal: string }).signal}` : `exit code ${(exit as { code: number | null }).code}`}`
    : `the agent (pid ${child.pid}) did not answer within the wait`;
  if (!exit && child.pid) process.kill(child.pid, 'SIGKILL');
  throw new CrucibleError('agent_start_failed', `${how}; see its log ${logFile}${tail ? `:\n${tail}` : ''}`);
}
