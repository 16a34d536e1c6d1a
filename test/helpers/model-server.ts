import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SHARED_MODELS } from './service.js';

const FILES = ['config.json', 'generation_config.json', 'genai_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx'];

/** How a served model misbehaves ('stall': the model file's first 32 KiB, then nothing, ever). */
export type Fault = 'none' | 'drop' | 'badsum' | 'missing' | 'slow' | 'stall';

export interface ModelServer {
  url: string;
  catalogUrl: string;
  /** GET requests per path, and the Range headers they carried. */
  gets: Map<string, string[]>;
  close(): Promise<void>;
}

/**
 * A real HTTP server for download tests: a catalog of stories260k copies, one per fault, and
 * their files read from `src` (../shared/models by default), with Range support.
 */
export async function startModelServer(faults: Fault[] = ['none', 'drop', 'badsum', 'missing', 'slow'], src = join(SHARED_MODELS, 'stories260k')): Promise<ModelServer> {
  const bytes = new Map(FILES.map((f) => [f, readFileSync(join(src, f))]));
  const gets = new Map<string, string[]>();
  let dropped = false;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/catalog.json') {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const entries = faults.map((fault) => ({
        name: `tiny-${fault}:1`, alias: `tiny-${fault}`, displayName: `stories260k served with fault ${fault}`, version: '1',
        uri: `${base}/models/${fault}`, modelType: 'ONNX', publisher: 'test', task: 'chat-completion',
        runtime: { deviceType: 'CPU', executionProvider: 'CPUExecutionProvider' }, license: 'MIT', maxOutputTokens: 256,
        files: [...FILES, ...(fault === 'missing' ? ['onnx/extra.bin'] : [])].map((path) => {
          const b = bytes.get(path);
          const sha = b ? createHash('sha256').update(b).digest('hex') : '0'.repeat(64);
          return { path, size: b?.length ?? 10, sha256: fault === 'badsum' && path === 'onnx/model.onnx' ? sha.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) : sha };
        }),
      }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(entries));
      return;
    }
    const m = /^\/models\/(\w+)\/(.+)$/.exec(url.pathname);
    const fault = m?.[1] as Fault | undefined;
    const body = m ? bytes.get(m[2]) : undefined;
    if (req.method === 'GET') gets.set(url.pathname, [...(gets.get(url.pathname) ?? []), req.headers.range ?? '']);
    if (!body || !fault) {
      res.writeHead(404).end('not found');
      return;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) start = Number(range[1]);
    if (start >= body.length && body.length > 0) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      return;
    }
    const part = body.subarray(start);
    const headers: Record<string, string | number> = { 'content-length': part.length, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    if (range) headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const isModel = m![2] === 'onnx/model.onnx';
    if (fault === 'drop' && isModel && !dropped) {
      // Half the file, then the connection dies.
      dropped = true;
      res.write(part.subarray(0, Math.floor(part.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    if (fault === 'stall' && isModel) {
      res.write(part.subarray(0, 32 * 1024));
      return;
    }
    if (fault === 'slow' && isModel) {
      let off = 0;
      const tick = () => {
        if (res.destroyed) return;
        const next = part.subarray(off, off + 32 * 1024);
        off += next.length;
        if (next.length === 0) { res.end(); return; }
        res.write(next, () => setTimeout(tick, 40));
      };
      tick();
      return;
    }
    res.end(part);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url, catalogUrl: `${url}/catalog.json`, gets,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
