import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../atomic-file.js';
import { ACTIONS, ROLES, allows } from './actions.js';

/** A scoped access key as stored: a digest, never the secret. */
export interface AccessKeyRecord {
  id: string;
  name: string;
  /** SHA-256 of the secret, hex. */
  digest: string;
  actions: string[];
  models: string[];
  deployments: string[];
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
}

export interface CreateKeyRequest {
  name?: string;
  preset?: string;
  actions?: string[];
  models?: string[];
  deployments?: string[];
  /** Seconds until the key expires. */
  expiresIn?: number;
}

/** Presets for `POST /api/v1/keys`: the built-in roles, plus `invoke` and `read`. */
export const PRESETS: Record<string, readonly string[]> = { ...ROLES, invoke: ROLES.invoker, read: ROLES.reader };

const sha = (s: string) => createHash('sha256').update(s).digest();

/** Whether a model name matches a glob (`*` for any run of characters), case-insensitive. */
export function globMatches(glob: string, name: string): boolean {
  const re = new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i');
  return re.test(name);
}

/** Parses `30d`, `12h`, `15m`, `90s` or plain seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) throw new Error(`'${text}' is not a duration: use e.g. 30d, 12h, 15m or seconds`);
  return Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[m[2]];
}

/**
 * Scoped, expiring access keys (`<home>/access-keys.json`, mode 0600): created with fixed
 * actions, model globs, deployments and an expiry; the secret is returned once and stored as a
 * SHA-256 digest; lookups compare every digest in constant time; the file is re-read on each
 * lookup's change check, so a revocation counts from the next request.
 */
export class AccessKeys {
  private records: AccessKeyRecord[] = [];
  private loadedText = '';

  constructor(readonly file: string) {}

  private load(): AccessKeyRecord[] {
    if (!existsSync(this.file)) return (this.records = []);
    try {
      const text = readFileSync(this.file, 'utf8');
      if (text !== this.loadedText) {
        this.records = (JSON.parse(text) as { keys: AccessKeyRecord[] }).keys;
        this.loadedText = text;
      }
    } catch { /* keep the last good list */ }
    return this.records;
  }

  private save(records: AccessKeyRecord[]): void {
    const text = JSON.stringify({ keys: records }, null, 2) + '\n';
    writeFileAtomic(this.file, text);
    this.records = records;
    this.loadedText = text;
  }

  list(): Omit<AccessKeyRecord, 'digest'>[] {
    return this.load().map(({ digest: _d, ...r }) => r);
  }

  /** The record whose secret this is, or null. Every digest is compared. */
  match(presented: string): AccessKeyRecord | null {
    const d = sha(presented);
    let found: AccessKeyRecord | null = null;
    for (const r of this.load()) {
      const stored = Buffer.from(r.digest, 'hex');
      if (stored.length === d.length && timingSafeEqual(stored, d)) found ??= r;
    }
    return found;
  }

  /**
   * Creates a key no wider than its creator: every action it grants must be granted to the
   * creator, and a creator limited to some models or deployments passes those limits on.
   */
  create(req: CreateKeyRequest, creator: { id: string; actions: string[]; models: string[]; deployments: string[] }): { secret: string; record: Omit<AccessKeyRecord, 'digest'> } {
    const actions = req.actions ?? [...(PRESETS[req.preset ?? 'invoke'] ?? [])];
    if (req.preset !== undefined && !PRESETS[req.preset]) throw new Error(`unknown preset '${req.preset}': one of ${Object.keys(PRESETS).join(', ')}`);
    if (!Array.isArray(actions) || actions.length === 0 || actions.some((a) => typeof a !== 'string')) throw new Error('actions must be a non-empty list of actions');
    for (const a of actions) {
      const concrete = ACTIONS.filter((x) => allows([a], x));
      if (concrete.length === 0) throw new Error(`'${a}' names no action`);
      const wider = concrete.find((x) => !allows(creator.actions, x));
      if (wider) throw new Error(`a key may not grant '${wider}', which its creator is not granted`);
    }
    const narrow = (asked: string[] | undefined, own: string[], what: string) => {
      const list = asked ?? own;
      if (!Array.isArray(list) || list.some((m) => typeof m !== 'string' || m === '')) throw new Error(`${what} must be a list of names or globs`);
      if (!own.includes('*') && list.some((m) => !own.includes(m))) throw new Error(`${what} may not be wider than the creator's (${own.join(', ')})`);
      return list;
    };
    const models = narrow(req.models, creator.models, 'models');
    const deployments = narrow(req.deployments, creator.deployments, 'deployments');
    if (req.expiresIn !== undefined && !(Number.isFinite(req.expiresIn) && req.expiresIn > 0)) throw new Error('expiresIn must be a positive number of seconds');
    const secret = `crucible-ak-${randomBytes(32).toString('base64url')}`;
    const now = Date.now();
    const record: AccessKeyRecord = {
      id: randomUUID(), name: typeof req.name === 'string' ? req.name.slice(0, 200) : '', digest: sha(secret).toString('hex'),
      actions, models, deployments, createdAt: new Date(now).toISOString(), createdBy: creator.id,
      expiresAt: req.expiresIn !== undefined ? new Date(now + req.expiresIn * 1000).toISOString() : null,
    };
    this.save([...this.load(), record]);
    const { digest: _d, ...shown } = record;
    return { secret, record: shown };
  }

  revoke(id: string): boolean {
    const records = this.load();
    const left = records.filter((r) => r.id !== id);
    if (left.length === records.length) return false;
    this.save(left);
    return true;
  }
}
