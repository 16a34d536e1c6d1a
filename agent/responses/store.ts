import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'libsql';
import type { InputItem, ResponseObject } from '../../protocol/responses.js';

export interface StoredResponse {
  response: ResponseObject;
  /** That turn's own input items. */
  input: InputItem[];
  /** Who created it (see `ownerOf` in agent/identity): `local` when not given. */
  owner?: string;
}

/** The single-user default's owner, and that of rows written before owners were recorded. */
export const LOCAL_OWNER = 'local';

export interface StoreLimits {
  /** Responses older than this are removed. */
  maxAgeMs: number;
  /** Past this total (response and input JSON), the oldest responses are removed. */
  maxBytes: number;
}

/**
 * Stored responses in an embedded SQLite database (libsql) in the agent's home. Each write is one
 * transaction, so a crash leaves either the old row or the new one. `secure_delete` zeroes
 * deleted rows' pages and a checkpoint empties the write-ahead log after deletes, so a deleted
 * response's text is gone from disk, not merely unlinked. Retention runs on open and after
 * every write.
 */
export class ResponseStore {
  private readonly db: Database.Database;
  private closed = false;

  constructor(path: string, private readonly limits: StoreLimits) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA secure_delete = ON;
      CREATE TABLE IF NOT EXISTS responses (
        id TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        response TEXT NOT NULL,
        input TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        owner TEXT NOT NULL DEFAULT 'local'
      );
      CREATE INDEX IF NOT EXISTS responses_by_age ON responses (created_at);
    `);
    // A database from before owners were recorded: its rows were the local user's.
    const columns = this.db.prepare('PRAGMA table_info(responses)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'owner')) this.db.exec("ALTER TABLE responses ADD COLUMN owner TEXT NOT NULL DEFAULT 'local'");
    this.prune();
  }

  /** Inserts or replaces a response (a background one is written again as it ends). */
  put(entry: StoredResponse, createdAtMs: number): void {
    if (this.closed) return;
    const response = JSON.stringify(entry.response);
    const input = JSON.stringify(entry.input);
    this.db.prepare('INSERT OR REPLACE INTO responses (id, created_at, response, input, bytes, owner) VALUES (?, ?, ?, ?, ?, ?)')
      .run(entry.response.id, createdAtMs, response, input, Buffer.byteLength(response) + Buffer.byteLength(input), entry.owner ?? LOCAL_OWNER);
    this.prune();
  }

  /** Rewrites a stored response in place, keeping its age. */
  update(entry: StoredResponse): void {
    if (this.closed) return;
    const response = JSON.stringify(entry.response);
    const input = JSON.stringify(entry.input);
    this.db.prepare('UPDATE responses SET response = ?, input = ?, bytes = ? WHERE id = ?')
      .run(response, input, Buffer.byteLength(response) + Buffer.byteLength(input), entry.response.id);
  }

  get(id: string): StoredResponse | null {
    if (this.closed) return null;
    const row = this.db.prepare('SELECT response, input, owner FROM responses WHERE id = ?').get(id) as { response: string; input: string; owner: string } | undefined;
    return row ? { response: JSON.parse(row.response) as ResponseObject, input: JSON.parse(row.input) as InputItem[], owner: row.owner } : null;
  }

  delete(id: string): boolean {
    if (this.closed) return false;
    const removed = this.db.prepare('DELETE FROM responses WHERE id = ?').run(id).changes > 0;
    if (removed) this.checkpoint();
    return removed;
  }

  /** Responses whose run ended with the process that ran it: they can never finish. */
  interrupted(): StoredResponse[] {
    const rows = this.db.prepare("SELECT response, input, owner FROM responses WHERE json_extract(response, '$.status') IN ('in_progress', 'queued')").all() as { response: string; input: string; owner: string }[];
    return rows.map((r) => ({ response: JSON.parse(r.response) as ResponseObject, input: JSON.parse(r.input) as InputItem[], owner: r.owner }));
  }

  /** How many responses are stored, and their total size. */
  stats(): { count: number; bytes: number } {
    const row = this.db.prepare('SELECT COUNT(*) AS count, COALESCE(SUM(bytes), 0) AS bytes FROM responses').get() as { count: number; bytes: number };
    return { count: row.count, bytes: row.bytes };
  }

  /** Removes what is past the age limit, then the oldest until the total fits. */
  prune(now = Date.now()): number {
    let removed = this.db.prepare('DELETE FROM responses WHERE created_at < ?').run(now - this.limits.maxAgeMs).changes;
    let { bytes } = this.stats();
    if (bytes > this.limits.maxBytes) {
      const oldest = this.db.prepare('SELECT id, bytes FROM responses ORDER BY created_at ASC, rowid ASC').all() as { id: string; bytes: number }[];
      const del = this.db.prepare('DELETE FROM responses WHERE id = ?');
      this.db.transaction(() => {
        for (const row of oldest) {
          if (bytes <= this.limits.maxBytes) break;
          del.run(row.id);
          bytes -= row.bytes;
          removed++;
        }
      })();
    }
    if (removed > 0) this.checkpoint();
    return removed;
  }

  private checkpoint(): void {
    this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
