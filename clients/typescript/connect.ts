import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CrucibleError } from '../../protocol/errors.js';
import type { ServiceFile } from '../../protocol/models.js';
import { HttpClient } from './http-client.js';
import type { EmbeddedClient } from './embedded-client.js';
import { PipeClient } from './pipe-client.js';

export type CrucibleClient = PipeClient | HttpClient;
/** What the SDK drives: an agent over the pipe, over HTTP, or in this process. One set of calls. */
export type AgentClient = PipeClient | HttpClient | EmbeddedClient;

export const defaultHome = (): string => process.env.CRUCIBLE_HOME || join(homedir(), '.crucible');

export function readServiceInfo(home = defaultHome(), file = join(home, 'service.json')): ServiceFile {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ServiceFile;
  } catch {
    throw new CrucibleError('connection_closed', `the agent is not running (no ${file}); start it with 'crucible service start'`);
  }
}

/**
 * Connects to the running agent found through service.json: over the pipe when it answers,
 * otherwise over HTTP. Every CLI command and application goes through here.
 */
export async function connect(opts: { home?: string; serviceFile?: string; transport?: 'pipe' | 'http' | 'auto' } = {}): Promise<CrucibleClient> {
  const info = readServiceInfo(opts.home, opts.serviceFile);
  const transport = opts.transport ?? 'auto';
  if (transport !== 'http' && info.pipeName) {
    try {
      return await PipeClient.connect(info.pipeName);
    } catch (err) {
      if (transport === 'pipe') throw err;
    }
  }
  const url = info.endpoints?.[0];
  if (!url) throw new CrucibleError('connection_closed', 'service.json names no HTTP endpoint');
  return new HttpClient(url, apiKeyFor(info));
}

/**
 * The key an HTTP client of this user sends: $CRUCIBLE_API_KEY, else the primary key from the
 * agent's keys file (readable only by the user who runs the agent). The pipe needs none: its
 * socket is private to that user.
 */
export function apiKeyFor(info: ServiceFile): string | undefined {
  if (process.env.CRUCIBLE_API_KEY) return process.env.CRUCIBLE_API_KEY;
  if (!info.apiKeysFile) return undefined;
  try {
    return JSON.parse(readFileSync(info.apiKeysFile, 'utf8')).primaryKey?.value;
  } catch {
    return undefined;
  }
}

export function closeClient(client: AgentClient): void {
  if (client instanceof PipeClient) client.close();
}
