import { isIP } from 'node:net';
import { CrucibleError } from '../../protocol/errors.js';

/** Names that only ever mean a private network or this machine, whatever a DNS server says. */
const INTERNAL_SUFFIXES = ['.localhost', '.local', '.internal', '.intranet', '.lan', '.home', '.corp', '.private', '.cluster.local', '.svc', '.localdomain', '.home.arpa', '.arpa'];
const INTERNAL_NAMES = new Set(['localhost', 'metadata', 'metadata.google.internal', 'kubernetes', 'kubernetes.default']);

/**
 * Why a host may not be reached on a user's behalf (server-side request forgery, seed 003), or
 * null when it may: bare IP addresses (any of them, so no private, loopback, link-local or
 * metadata address gets through in another spelling), single-label names (resolved by local
 * search domains) and internal suffixes are refused.
 */
export function ssrfReason(host: string): string | null {
  let h = host.trim().toLowerCase().replace(/\.$/, '');
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === '') return 'the host is empty';
  if (isIP(h) !== 0) return `'${host}' is a bare IP address`;
  // Numeric spellings URL parsers turn into addresses (2130706433, 0x7f.1).
  if (/^[0-9.]+$/.test(h) || /^(0x[0-9a-f]+\.?)+$/.test(h)) return `'${host}' is a numeric address`;
  if (INTERNAL_NAMES.has(h)) return `'${host}' is an internal name`;
  if (INTERNAL_SUFFIXES.some((s) => h.endsWith(s))) return `'${host}' is an internal name`;
  if (!h.includes('.')) return `'${host}' is a single-label (internal) name`;
  if (!/^[a-z0-9.-]+$/.test(h)) return `'${host}' is not a valid host name`;
  return null;
}

/** A registry host (`myacr.azurecr.io`, optionally with a port) checked against SSRF. */
export function checkRegistryHost(registry: string, field: string, allowPrivate: boolean): void {
  if (/[/@?#\s]/.test(registry)) throw new CrucibleError('invalid_request', `'${registry}' must be a registry host name, without scheme or path`, field);
  const host = registry.replace(/:\d{1,5}$/, '');
  const reason = allowPrivate ? null : ssrfReason(host);
  if (reason) throw new CrucibleError('invalid_request', `registry refused: ${reason}; private, internal and bare-IP hosts are not allowed (--allow-private-registries)`, field);
}

/** An OpenAI-compatible server's URL checked against SSRF: http(s) only, no credentials. */
export function checkServerUrl(url: string, field: string, allowPrivate: boolean): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CrucibleError('invalid_request', `'${url}' is not a URL`, field);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CrucibleError('invalid_request', 'the URL must be http or https', field);
  if (u.username || u.password) throw new CrucibleError('invalid_request', 'the URL must not carry credentials', field);
  const reason = allowPrivate ? null : ssrfReason(u.hostname);
  if (reason) throw new CrucibleError('invalid_request', `URL refused: ${reason}; private, internal and bare-IP hosts are not allowed (--allow-private-registries)`, field);
  return u;
}
