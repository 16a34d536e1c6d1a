import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './service.js';

export const CLI = join(REPO, 'build', 'clients', 'cli', 'main.js');

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a program without blocking this process's event loop (which may be serving it). */
export function run(cmd: string, args: string[], timeout = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout }, (err, stdout, stderr) =>
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

export const crucible = (home: string, ...args: string[]) => run(process.execPath, [CLI, '--home', home, ...args]);
