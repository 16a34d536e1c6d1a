import { closeSync, existsSync, openSync, readFileSync, renameSync, statSync, writeSync, chmodSync } from 'node:fs';

/** One audit record: who did what to which resource, and how it ended. Never a secret, never a prompt. */
export interface AuditRecord {
  time: string;
  requestId: string;
  actor: { kind: string; id: string };
  action: string;
  /** The request's method and path (no query string, no body). */
  resource: string;
  outcome: 'allowed' | 'refused';
  status: number;
  /** Why a request was refused (the error code). */
  reason?: string;
}

/**
 * Whether a request is a management action worth a record when allowed: anything but reads and
 * invokes, and reading secrets (`keys/read`: a deployment's keys, the access-key list).
 */
export const isManagement = (action: string | null): boolean =>
  action === null || action === 'keys/read' || !(action === 'public' || action.endsWith('/read') || action.endsWith('/invoke'));

/**
 * An append-only JSON-lines file, mode 0600, rotated by size to one `.1` file. Written
 * synchronously, one line per call: a record is on disk before the response is.
 */
export class AuditLog {
  constructor(readonly file: string, private readonly maxBytes = 16 * 2 ** 20) {}

  write(r: Omit<AuditRecord, 'time'>): void {
    const line = JSON.stringify({ time: new Date().toISOString(), ...r }) + '\n';
    try {
      if (existsSync(this.file) && statSync(this.file).size + line.length > this.maxBytes) renameSync(this.file, `${this.file}.1`);
      const fd = openSync(this.file, 'a', 0o600);
      try {
        writeSync(fd, line);
      } finally {
        closeSync(fd);
      }
      chmodSync(this.file, 0o600);
    } catch {
      // An audit write that fails must not take the agent down; the request's log line remains.
    }
  }

  /** The newest records first, at most `limit`, from the current file. */
  read(limit = 100): AuditRecord[] {
    if (!existsSync(this.file)) return [];
    const lines = readFileSync(this.file, 'utf8').split('\n').filter(Boolean);
    return lines.slice(-limit).reverse().map((l) => JSON.parse(l) as AuditRecord);
  }
}
