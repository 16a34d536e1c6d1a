import { existsSync, chmodSync, rmSync } from 'node:fs';
import net from 'node:net';
import { CrucibleError, toCrucibleError } from '../../protocol/errors.js';
import { encodeFrame, FrameReader, FrameTooLargeError } from '../../protocol/framing.js';
import type { CrucibleApi } from '../../protocol/operations.js';
import { type PipeResponse, parsePipeRequest } from '../../protocol/pipe-messages.js';
import { drained } from '../drain.js';
import { HANDLERS } from './dispatch.js';

// sockaddr_un.sun_path: 108 bytes on Linux, 104 on macOS, including the terminating NUL.
const MAX_SOCKET_PATH = process.platform === 'darwin' ? 103 : 107;

/** Refuses socket paths the kernel would silently truncate. */
export function checkPipePath(path: string): void {
  if (process.platform === 'win32') return;
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH) {
    throw new Error(`socket path is ${bytes} bytes, over the ${MAX_SOCKET_PATH}-byte limit of Unix sockets: ${path} (use a shorter --home or --pipe)`);
  }
}

/** True when something answers on the socket: another agent owns it. */
function inUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Observers of the pipe server; optional. */
export interface PipeHooks {
  onRequest?: (r: { op: string; outcome: 'result' | 'error'; code?: string; durationMs: number }) => void;
  onConnection?: (event: 'open' | 'close' | 'protocol_error', detail?: string) => void;
}

/** One client connection: multiplexed requests by id, each cancellable. */
class Connection {
  private readonly reader = new FrameReader();
  private readonly inFlight = new Map<number, AbortController>();
  private closed = false;

  constructor(private readonly socket: net.Socket, private readonly api: CrucibleApi, private readonly hooks: PipeHooks) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => this.onClose());
    socket.on('error', () => {});
  }

  private onData(chunk: Buffer): void {
    let frames;
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      if (err instanceof FrameTooLargeError) {
        this.hooks.onConnection?.('protocol_error', err.message);
        this.send({ id: 0, type: 'error', body: new CrucibleError('payload_too_large', err.message).toBody() });
        this.socket.end();
        this.closed = true;
        return;
      }
      throw err;
    }
    for (const frame of frames) {
      if (!frame.ok) {
        this.send({ id: 0, type: 'error', body: new CrucibleError('invalid_request', frame.error).toBody() });
        continue;
      }
      const { id, request, error } = parsePipeRequest(frame.value);
      if (!request) {
        this.send({ id: id ?? 0, type: 'error', body: error!.toBody() });
        continue;
      }
      void this.handle(request.id, request.op, request.body ?? {});
    }
  }

  private async handle(id: number, op: string, body: Record<string, unknown>): Promise<void> {
    if (op === 'cancel') {
      const target = body.target;
      if (typeof target !== 'number') {
        this.send({ id, type: 'error', body: new CrucibleError('invalid_request', "'target' must be the id of a request in flight", 'target').toBody() });
        return;
      }
      const found = this.inFlight.get(target);
      found?.abort();
      this.send({ id, type: 'result', body: { cancelled: found !== undefined } });
      return;
    }
    if (this.inFlight.has(id)) {
      this.send({ id, type: 'error', body: new CrucibleError('duplicate_id', `request id ${id} is already in flight on this connection`, 'id').toBody() });
      return;
    }
    const ac = new AbortController();
    this.inFlight.set(id, ac);
    const t0 = performance.now();
    let code: string | undefined;
    try {
      const progress = (p: unknown) => { this.send({ id, type: 'progress', body: p }); };
      const outcome = await HANDLERS[op as keyof typeof HANDLERS](this.api, body, ac.signal, progress);
      if ('chunks' in outcome) {
        for await (const chunk of outcome.chunks) {
          if (this.closed) break;
          if (!this.send({ id, type: 'chunk', body: chunk })) await drained(this.socket);
        }
        this.send({ id, type: 'result', body: null });
      } else {
        this.send({ id, type: 'result', body: outcome.result });
      }
    } catch (err) {
      const e = toCrucibleError(err);
      const final = ac.signal.aborted && e.code !== 'shutting_down' && e.code !== 'timeout' ? new CrucibleError('cancelled', 'the request was cancelled') : e;
      code = final.code;
      this.send({ id, type: 'error', body: final.toBody() });
    } finally {
      this.inFlight.delete(id);
      this.hooks.onRequest?.({ op, outcome: code ? 'error' : 'result', code, durationMs: Math.round(performance.now() - t0) });
    }
  }

  private send(message: PipeResponse): boolean {
    if (this.closed || this.socket.destroyed) return true;
    return this.socket.write(encodeFrame(message));
  }

  /** A connection that closes cancels everything it asked for. */
  private onClose(): void {
    this.closed = true;
    for (const ac of this.inFlight.values()) ac.abort();
    this.inFlight.clear();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface PipeServer {
  path: string;
  close(): Promise<void>;
}

/** Listens on a Unix socket (mode 0600) or a Windows named pipe and serves the operations. */
export async function startPipeServer(path: string, api: CrucibleApi, hooks: PipeHooks = {}): Promise<PipeServer> {
  checkPipePath(path);
  if (process.platform !== 'win32' && existsSync(path)) {
    if (await inUse(path)) throw new Error(`another agent is already listening on ${path}`);
    rmSync(path, { force: true });
  }
  const connections = new Set<Connection>();
  const server = net.createServer((socket) => {
    const conn = new Connection(socket, api, hooks);
    connections.add(conn);
    hooks.onConnection?.('open');
    socket.on('close', () => { connections.delete(conn); hooks.onConnection?.('close'); });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Listen with a restrictive umask so the socket is never reachable by others, even briefly.
    const old = process.platform === 'win32' ? 0 : process.umask(0o177);
    try {
      server.listen(path, () => resolve());
    } finally {
      if (process.platform !== 'win32') process.umask(old);
    }
  });
  if (process.platform !== 'win32') chmodSync(path, 0o600);
  return {
    path,
    close: () => new Promise<void>((resolve) => {
      for (const c of connections) c.destroy();
      server.close(() => resolve());
      if (process.platform !== 'win32') rmSync(path, { force: true });
    }),
  };
}
