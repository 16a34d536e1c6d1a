import { createReadStream, existsSync, readFileSync, statSync, watch } from 'node:fs';
import { join } from 'node:path';
import { type KeyType, readOrCreateKeys, rotateKey } from '../../agent/keys.js';
import { logFile } from '../../agent/log.js';

function keysFile(home: string, explicit?: string): string {
  if (explicit) return explicit;
  try {
    const info = JSON.parse(readFileSync(join(home, 'service.json'), 'utf8'));
    if (info.apiKeysFile) return info.apiKeysFile;
  } catch {
    // Not running: the default file in the home folder.
  }
  return join(home, 'api-keys.json');
}

/**
 * `crucible service keys show|rotate primary|secondary`, in seed 003's formats. The agent re-reads
 * the file when it changes, so clients can move to the other key before one is rotated.
 */
export function serviceKeys(home: string, args: string[], explicit?: string): number {
  const file = keysFile(home, explicit);
  const [action, which] = args;
  if (action === 'show') {
    const pair = readOrCreateKeys(file);
    console.log(JSON.stringify({ file, ...pair }, null, 2));
    return 0;
  }
  if (action === 'rotate' && (which === 'primary' || which === 'secondary')) {
    console.log(JSON.stringify(rotateKey(file, which as KeyType), null, 2));
    return 0;
  }
  console.error('usage: crucible service keys show | rotate primary|secondary');
  return 2;
}

/** `crucible service logs [--lines N] [--follow]`: the agent's JSON log lines. */
export async function serviceLogs(home: string, lines: number, follow: boolean): Promise<number> {
  const file = logFile(home);
  if (!existsSync(file)) {
    console.error(`no log yet at ${file}`);
    return 1;
  }
  const all = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  for (const l of all.slice(-lines)) console.log(l);
  if (!follow) return 0;
  let offset = statSync(file).size;
  await new Promise<void>((resolve) => {
    const w = watch(file, () => {
      const size = statSync(file).size;
      if (size <= offset) { offset = size; return; }
      createReadStream(file, { start: offset, end: size - 1 }).pipe(process.stdout, { end: false });
      offset = size;
    });
    process.once('SIGINT', () => { w.close(); resolve(); });
  });
  return 0;
}

/**
 * `crucible keys create|list|revoke`: scoped access keys through the running agent's
 * `/api/v1/keys`, authenticated with `$CRUCIBLE_API_KEY` or the keys file's primary key.
 */
export async function accessKeysCommand(home: string, args: string[], opts: {
  preset?: string; models?: string[]; deployments?: string[]; actions?: string; expires?: string; name?: string; apiKeysFile?: string;
}): Promise<number> {
  const [action, id] = args;
  let info: { endpoints?: string[] };
  try {
    info = JSON.parse(readFileSync(join(home, 'service.json'), 'utf8'));
  } catch {
    console.error('crucible: the agent is not running (start it with crucible service start)');
    return 1;
  }
  const url = info.endpoints?.[0];
  const credential = process.env.CRUCIBLE_API_KEY || (existsSync(keysFile(home, opts.apiKeysFile)) ? readOrCreateKeys(keysFile(home, opts.apiKeysFile)).primaryKey.value : '');
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method, headers: { ...(credential ? { authorization: `Bearer ${credential}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) {
      console.error(`crucible: ${res.status} ${text}`);
      return null;
    }
    return text;
  };
  if (action === 'create') {
    const { parseDuration } = await import('../../agent/identity/access-keys.js');
    const body = {
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.preset ? { preset: opts.preset } : {}),
      ...(opts.actions ? { actions: opts.actions.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
      ...(opts.models?.length ? { models: opts.models } : {}),
      ...(opts.deployments?.length ? { deployments: opts.deployments } : {}),
      ...(opts.expires ? { expiresIn: parseDuration(opts.expires) } : {}),
    };
    const out = await call('POST', '/api/v1/keys', body);
    if (out === null) return 1;
    console.log(JSON.stringify(JSON.parse(out), null, 2));
    console.error('The key is shown once: store it now.');
    return 0;
  }
  if (action === 'list') {
    const out = await call('GET', '/api/v1/keys');
    if (out === null) return 1;
    console.log(JSON.stringify(JSON.parse(out).value, null, 2));
    return 0;
  }
  if (action === 'revoke' && id) return (await call('DELETE', `/api/v1/keys/${encodeURIComponent(id)}`)) === null ? 1 : 0;
  console.error("usage: crucible keys create [--preset invoke|read|reader|invoker|contributor|admin] [--actions A,B] [--model 'glob']... [--deployment NAME]... [--expires 30d] [--name N] | keys list | keys revoke <id>");
  return 2;
}
