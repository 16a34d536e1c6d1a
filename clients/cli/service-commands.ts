import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceReport, ServiceFile } from '../../protocol/models.js';
import { CrucibleManager } from '../typescript/sdk/index.js';

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

/** Asks the running agent for its status through the SDK: over the pipe when there is one, else over HTTP. */
export async function probe(home: string): Promise<{ mgr: CrucibleManager; info: ServiceFile } | null> {
  const info = readInfo(home);
  if (!info || !alive(info.pid)) return null;
  try {
    return { mgr: await CrucibleManager.connect({ home }), info };
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
  console.log(`Crucible is running on ${endpoint}/openai/status (pid ${found.info.pid}, checked over the ${found.mgr.mode})`);
  console.log(`Pipe: ${found.info.pipeName}`);
  console.log(`Models: ${found.info.modelDirPath}`);
  const status = await found.mgr.client.status().catch(() => null);
  if (status?.devices) for (const line of deviceLines(status.devices)) console.log(line);
  await found.mgr.close();
  return 0;
}

/** The device probe's answer as `service status` prints it. */
export function deviceLines(d: DeviceReport): string[] {
  const lines = [`Execution providers: ${d.providers.join(', ')} (chosen automatically: ${d.automatic.join(', ')})`];
  if (d.webgpu) {
    const a = d.webgpu.adapter;
    lines.push(a
      ? `WebGPU adapter: ${a.name} (vendor ${a.vendor || '?'}, ${a.architecture || '?'}, ${a.backend ?? '?'} backend${a.software ? '; software: used only when asked for with --ep webgpu' : ''})`
      : `WebGPU adapter: none (${d.webgpu.note ?? 'not found'})`);
  }
  return lines;
}

/** Starts the agent detached (the SDK's autoStart: logging to <home>/agent.log) and waits until it answers. */
export async function serviceStart(home: string, agentArgs: string[], timeoutMs = 30_000): Promise<number> {
  let mgr: CrucibleManager;
  try {
    mgr = await CrucibleManager.connect({ home, autoStart: true, agentArgs, startTimeoutMs: timeoutMs });
  } catch (err) {
    console.error(`Crucible did not start: ${(err as Error).message}`);
    return 1;
  }
  const status = await mgr.client.status();
  console.log(mgr.started
    ? `Crucible started on ${status.endpoints[0] ?? status.pipeName} (pid ${status.pid})`
    : `Crucible is already running on ${status.endpoints[0] ?? status.pipeName}`);
  await mgr.close();
  return 0;
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
