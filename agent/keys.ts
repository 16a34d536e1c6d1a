import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from './atomic-file.js';

/** Seed 003's key pair format. */
export interface KeyPair {
  primaryKey: { value: string; createdAt: string };
  secondaryKey: { value: string; createdAt: string };
}

export type KeyType = 'primary' | 'secondary';

export const digest = (s: string) => createHash('sha256').update(s).digest();

/** A fresh pair in seed 003's format: `fndry-pk-<uuid4>` and `fndry-sk-<uuid4>`. */
export function freshKeyPair(now = new Date().toISOString()): KeyPair {
  return { primaryKey: { value: `fndry-pk-${randomUUID()}`, createdAt: now }, secondaryKey: { value: `fndry-sk-${randomUUID()}`, createdAt: now } };
}

/** A rotated key in seed 003's format: 64 hex digits (secrets.token_hex(32)), no prefix. */
export const rotatedKey = () => ({ value: randomBytes(32).toString('hex'), createdAt: new Date().toISOString() });

/** Whether `presented` is one of `keys`, compared in constant time over SHA-256 digests. */
export function keyMatches(presented: string | undefined, keys: string[]): boolean {
  if (!presented) return false;
  const d = digest(presented);
  let ok = false;
  for (const k of keys) ok = timingSafeEqual(d, digest(k)) || ok;
  return ok;
}

/** Reads the keys file, creating it with fresh seed-format keys (mode 0600) when it is missing. */
export function readOrCreateKeys(file: string): KeyPair {
  if (!existsSync(file)) {
    writeKeys(file, freshKeyPair());
  }
  const pair = JSON.parse(readFileSync(file, 'utf8')) as KeyPair;
  if (typeof pair.primaryKey?.value !== 'string' || typeof pair.secondaryKey?.value !== 'string') {
    throw new Error(`${file} is not a key file: it needs primaryKey.value and secondaryKey.value`);
  }
  return pair;
}

export function writeKeys(file: string, pair: KeyPair): void {
  writeFileAtomic(file, JSON.stringify(pair, null, 2) + '\n');
}

/** Replaces one key with a 64-hex-digit token (seed 003's rotated format). */
export function rotateKey(file: string, type: KeyType): { keyType: KeyType; key: { value: string; createdAt: string } } {
  const pair = readOrCreateKeys(file);
  const key = rotatedKey();
  writeKeys(file, { ...pair, [`${type}Key`]: key } as KeyPair);
  return { keyType: type, key };
}

/**
 * The keys the HTTP API accepts: static ones from the environment plus the file's pair, which is
 * re-read when the file changes so a rotation takes effect without a restart. Comparison is in
 * constant time over SHA-256 digests, so neither content nor length leaks through timing.
 */
export class KeyStore {
  private fileKeys: Buffer[] = [];
  private static readonly FILE_NAMES = ['primary', 'secondary'];
  private mtime = 0;
  private checkedAt = 0;
  private readonly staticKeys: Buffer[];

  /** Called when a changed keys file is picked up (a rotation from `crucible service keys rotate`): for the audit log. */
  onReload?: () => void;

  constructor(private readonly file: string | null, staticKeys: string[]) {
    this.staticKeys = staticKeys.filter((k) => k.length > 0).map(digest);
    if (file) this.load(true);
  }

  get enabled(): boolean {
    return this.file !== null || this.staticKeys.length > 0;
  }

  private load(force = false): void {
    if (!this.file) return;
    const now = Date.now();
    if (!force && now - this.checkedAt < 250) return;
    this.checkedAt = now;
    try {
      const m = statSync(this.file).mtimeMs;
      if (!force && m === this.mtime) return;
      const pair = readOrCreateKeys(this.file);
      this.fileKeys = [pair.primaryKey.value, pair.secondaryKey.value].map(digest);
      this.mtime = statSync(this.file).mtimeMs;
      if (!force) this.onReload?.();
    } catch {
      // Keep the keys we had: a half-written file must not lock everyone out.
    }
  }

  check(presented: string | undefined): boolean {
    if (!this.enabled) return true;
    return presented ? this.match(presented) !== null : false;
  }

  /** Which key matched (`primary`, `secondary`, `static-N`; never the secret), or null. Every key is compared. */
  match(presented: string): string | null {
    this.load();
    const d = digest(presented);
    let found: string | null = null;
    this.staticKeys.forEach((k, i) => { if (timingSafeEqual(d, k)) found ??= `static-${i + 1}`; });
    this.fileKeys.forEach((k, i) => { if (timingSafeEqual(d, k)) found ??= KeyStore.FILE_NAMES[i]; });
    return found;
  }
}
