/**
 * Foundry's rule for a Bearer value, by shape: a known key prefix (`fndry-pk-`, `fndry-sk-`) or 64
 * hex digits (a rotated key) is a key; three base64url parts whose first decodes to a JSON header
 * with `alg` is a token; anything else is a key.
 */
export type CredentialKind = 'key' | 'token';

const KEY_PREFIX = /^fndry-(pk|sk)-/;
const ROTATED_KEY = /^[0-9a-fA-F]{64}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;

export function classifyBearer(value: string): CredentialKind {
  if (KEY_PREFIX.test(value) || ROTATED_KEY.test(value)) return 'key';
  const parts = value.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) return 'key';
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as unknown;
    return header && typeof header === 'object' && typeof (header as { alg?: unknown }).alg === 'string' ? 'token' : 'key';
  } catch {
    return 'key';
  }
}
