import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, statSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Why one file could not be fetched; `retry` says whether trying again may help. */
export class FileError extends Error {
  constructor(readonly file: string, message: string, readonly retry: boolean) {
    super(`${file}: ${message}`);
  }
}

const sizeOf = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Learns a remote file's size without fetching it (HEAD); null when the server does not say. */
export async function remoteSize(url: string, signal?: AbortSignal): Promise<number | null> {
  if (url.startsWith('file:')) return sizeOf(fileURLToPath(url)) || null;
  try {
    const res = await fetch(url, { method: 'HEAD', signal });
    const n = Number(res.headers.get('content-length'));
    return res.ok && Number.isFinite(n) && n >= 0 ? n : null;
  } catch {
    return null;
  }
}

/**
 * Fetches `url` into `dest`, resuming a partial file with a Range request. Returns the size the
 * server says the whole file has. `onBytes` reports every chunk written.
 */
export async function fetchInto(url: string, dest: string, name: string, signal: AbortSignal, onBytes: (n: number) => void): Promise<number> {
  mkdirSync(dirname(dest), { recursive: true });
  if (url.startsWith('file:')) return copyLocal(fileURLToPath(url), dest, name, signal, onBytes);
  const have = sizeOf(dest);
  let res: Response;
  try {
    res = await fetch(url, { signal, headers: have > 0 ? { range: `bytes=${have}-` } : {} });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new FileError(name, `cannot connect: ${(err as Error).message}`, true);
  }
  if (res.status === 416) {
    // Our partial file is not a prefix the server can continue: start over.
    await rm(dest, { force: true });
    throw new FileError(name, 'the server refused to resume; restarting', true);
  }
  if (!res.ok) {
    throw new FileError(name, `HTTP ${res.status} ${res.statusText} from ${url}`, res.status >= 500 || res.status === 429);
  }
  let offset = 0;
  let total: number;
  if (res.status === 206) {
    const m = /bytes (\d+)-\d+\/(\d+|\*)/.exec(res.headers.get('content-range') ?? '');
    if (!m || Number(m[1]) !== have) throw new FileError(name, 'the server answered the wrong range', true);
    offset = have;
    total = m[2] === '*' ? NaN : Number(m[2]);
  } else {
    total = Number(res.headers.get('content-length') ?? NaN);
  }
  const fh = await open(dest, offset > 0 ? 'a' : 'w');
  let written = offset;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      await fh.write(chunk);
      written += chunk.byteLength;
      onBytes(chunk.byteLength);
    }
  } catch (err) {
    if (signal.aborted) throw err;
    throw new FileError(name, `the connection dropped after ${written} bytes (${(err as Error).message})`, true);
  } finally {
    await fh.close();
  }
  if (Number.isFinite(total) && written < total) throw new FileError(name, `the transfer ended after ${written} of ${total} bytes`, true);
  return Number.isFinite(total) ? total : written;
}

async function copyLocal(src: string, dest: string, name: string, signal: AbortSignal, onBytes: (n: number) => void): Promise<number> {
  let size: number;
  try {
    size = statSync(src).size;
  } catch {
    throw new FileError(name, `no such file ${src}`, false);
  }
  const fh = await open(dest, 'w');
  try {
    for await (const chunk of createReadStream(src, { signal })) {
      await fh.write(chunk as Buffer);
      onBytes((chunk as Buffer).length);
    }
  } finally {
    await fh.close();
  }
  return size;
}
