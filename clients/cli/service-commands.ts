import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiKeyFor, closeClient, connect, type CrucibleClient } from '../typescript/connect.js';
import { HttpClient } from '../typescript/http-client.js';
import { PipeClient } from '../typescript/pipe-client.js';
import type { ServiceFile } from '../../protocol/models.js';

const AGENT = fileURLToPath(new URL('../../agent/main.js', import.meta.url));

function readInfo(home: string): ServiceFile | null {
  try {
    return JSON.parse(readFileSync(join(home, 'service.json'), 'utf8')) as ServiceFile;
  } catch {
    return null;
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Asks the running agent for its status: over the pipe when there is one, else over HTTP. */
export async function probe(home: string): Promise<{ client: CrucibleClient; via: 'pipe' | 'http'; info: ServiceFile } | null> {
  const info = readInfo(home);
  if (!info || !alive(info.pid)) return null;
  try {
    const client = await connect({ home });
    await client.status();
    return { client, via: client instanceof PipeClient ? 'pipe' : 'http', info };
  } catch {
    return null;
  }
}

export async function serviceStatus(home: string): Promise<number> {
  const found = await probe(home);
  if (!found) {
    console.log('Crucible is not running.');
    return 1;
  }
  const endpoint = found.info.endpoints[0];
  console.log(`Crucible is running on ${endpoint}/openai/status (pid ${found.info.pid}, checked over the ${found.via})`);
  console.log(`Pipe: ${found.info.pipeName}`);
  console.log(`Models: ${found.info.modelDirPath}`);
  closeClient(found.client);
  return 0;
}

/** Starts the agent detached, logging to <home>/agent.log, and waits until it answers. */
export async function serviceStart(home: string, agentArgs: string[], timeoutMs = 30_000): Promise<number> {
  const running = await probe(home);
  if (running) {
    console.log(`Crucible is already running on ${running.info.endpoints[0]}`);
    closeClient(running.client);
    return 0;
  }
  mkdirSync(home, { recursive: true });
  const log = openSync(join(home, 'agent.log'), 'a');
  const child = spawn(process.execPath, [AGENT, '--home', home, ...agentArgs], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const info = readInfo(home);
    if (info && info.pid === child.pid) {
      try {
        await new HttpClient(info.endpoints[0], apiKeyFor(info)).status();
        console.log(`Crucible started on ${info.endpoints[0]} (pid ${info.pid})`);
        return 0;
      } catch {
        // Not answering yet.
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  console.error(`Crucible did not start; see ${join(home, 'agent.log')}`);
  if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  return 1;
}

export async function serviceStop(home: string, timeoutMs = 15_000): Promise<number> {
  const info = readInfo(home);
  if (!info || !alive(info.pid)) {
    console.log('Crucible is not running.');
    return 0;
  }
  process.kill(info.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && alive(info.pid)) await new Promise((r) => setTimeout(r, 100));
  if (alive(info.pid)) {
    process.kill(info.pid, 'SIGKILL');
    console.log(`Crucible (pid ${info.pid}) did not stop in time and was killed.`);
    return 1;
  }
  console.log(`Crucible (pid ${info.pid}) stopped.`);
  return 0;
}
