import { existsSync, chmodSync, rmSync } from 'node:fs';
import net from 'node:net';
import { CrucibleError, toCrucibleError } from '../../protocol/errors.js';
import { encodeFrame, type Frame, FrameReader, FrameTooLargeError } from '../../protocol/framing.js';
import type { CrucibleApi } from '../../protocol/operations.js';
import { isRequestId, type PipeResponse, parsePipeRequest } from '../../protocol/pipe-messages.js';
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

/**
 * One client connection: multiplexed requests by id, each cancellable. Every frame whose id can
 * be read goes through the same bookkeeping, cancels included: an id in flight is refused with
 * `duplicate_id` before anything else about the frame is looked at, so a request ends exactly
 * once. A client that half-closes (ends its side) keeps receiving until its requests in flight
 * have ended; then the agent ends its side too.
 */
class Connection {
  private readonly reader = new FrameReader();
  private readonly inFlight = new Map<number, AbortController>();
  /** The client ended its side: no more requests can arrive. */
  private ended = false;
  /** Nothing more is sent: the socket closed, or a protocol error is closing it. */
  private closed = false;

  constructor(private readonly socket: net.Socket, private readonly api: CrucibleApi, private readonly hooks: PipeHooks) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.onClose());
    socket.on('error', () => {});
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      if (!(err instanceof FrameTooLargeError)) throw err;
      this.hooks.onConnection?.('protocol_error', err.message);
      this.send({ id: 0, type: 'error', body: new CrucibleError('payload_too_large', err.message).toBody() });
      this.closed = true;
      this.cancelAll();
      this.socket.end(() => this.socket.destroy());
      return;
    }
    for (const frame of frames) this.accept(frame);
  }

  private accept(frame: Frame): void {
    if (!frame.ok) {
      this.send({ id: 0, type: 'error', body: new CrucibleError('invalid_request', frame.error).toBody() });
      return;
    }
    const { id, request, error } = parsePipeRequest(frame.value);
    if (id === null) {
      this.send({ id: 0, type: 'error', body: error!.toBody() });
      return;
    }
    if (this.inFlight.has(id)) {
      this.send({ id, type: 'error', body: new CrucibleError('duplicate_id', `request id ${id} is already in flight on this connection`, 'id').toBody() });
      return;
    }
    if (!request) {
      this.send({ id, type: 'error', body: error!.toBody() });
      return;
    }
    if (request.op === 'cancel') {
      this.cancel(id, request.body ?? {});
      return;
    }
    const ac = new AbortController();
    this.inFlight.set(id, ac);
    void this.handle(id, request.op, request.body ?? {}, ac);
  }

  /** Answers at once; a request it stops sends exactly one more frame, its `cancelled` error. */
  private cancel(id: number, body: Record<string, unknown>): void {
    const target = body.target;
    if (!isRequestId(target)) {
      this.send({ id, type: 'error', body: new CrucibleError('invalid_request', "'target' must be a request id (an unsigned integer)", 'target').toBody() });
      return;
    }
    const found = this.inFlight.get(target);
    found?.abort();
    this.send({ id, type: 'result', body: { cancelled: found !== undefined } });
  }

  private async handle(id: number, op: string, body: Record<string, unknown>, ac: AbortController): Promise<void> {
    const t0 = performance.now();
    let code: string | undefined;
    try {
      const progress = (p: unknown) => { if (!ac.signal.aborted) this.send({ id, type: 'progress', body: p }); };
      const outcome = await HANDLERS[op as keyof typeof HANDLERS](this.api, body, ac.signal, progress);
      if ('chunks' in outcome) {
        for await (const chunk of outcome.chunks) {
          if (this.closed || ac.signal.aborted) break;
          if (!this.send({ id, type: 'chunk', body: chunk })) await drained(this.socket);
        }
      }
      // A request stopped by `cancel` ends as cancelled, even if its work completed meanwhile.
      if (ac.signal.aborted) throw new CrucibleError('cancelled', 'the request was cancelled');
      this.send({ id, type: 'result', body: 'chunks' in outcome ? null : outcome.result });
    } catch (err) {
      const e = toCrucibleError(err);
      const final = ac.signal.aborted && e.code !== 'shutting_down' && e.code !== 'timeout' ? new CrucibleError('cancelled', 'the request was cancelled') : e;
      code = final.code;
      this.send({ id, type: 'error', body: final.toBody() });
    } finally {
      this.inFlight.delete(id);
      this.hooks.onRequest?.({ op, outcome: code ? 'error' : 'result', code, durationMs: Math.round(performance.now() - t0) });
      this.endIfDone();
    }
  }

  /** Every response frame has its three keys; a body left undefined goes out as nil. */
  private send(message: PipeResponse): boolean {
    if (this.closed || this.socket.destroyed) return true;
    return this.socket.write(encodeFrame(message.body === undefined ? { ...message, body: null } : message));
  }

  /**
   * The client ended its side. Bytes of an unfinished frame get an `invalid_request` error (id 0);
   * requests in flight go on, and the agent ends its side once they have all ended.
   */
  private onEnd(): void {
    this.ended = true;
    if (!this.closed && this.reader.pending > 0) {
      this.send({ id: 0, type: 'error', body: new CrucibleError('invalid_request', `the connection ended inside a frame (${this.reader.pending} bytes of it arrived)`).toBody() });
    }
    this.endIfDone();
  }

  private endIfDone(): void {
    if (this.ended && this.inFlight.size === 0 && !this.socket.writableEnded) this.socket.end();
  }

  private cancelAll(): void {
    for (const ac of this.inFlight.values()) ac.abort();
  }

  /** A connection that closes cancels everything it asked for. */
  private onClose(): void {
    this.closed = true;
    this.cancelAll();
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
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
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
