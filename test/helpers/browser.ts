import { execFileSync } from 'node:child_process';

/** Debian's chromium, installed by scripts/ensure-test-deps.sh. */
export function chromiumPath(): string {
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    } catch {
      // Try the next name.
    }
  }
  throw new Error('no chromium on PATH: run scripts/ensure-test-deps.sh (apt-get install chromium)');
}
