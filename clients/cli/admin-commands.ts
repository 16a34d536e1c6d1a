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
