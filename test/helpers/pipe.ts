import net from 'node:net';
import { encodeFrame, FrameReader } from '../../protocol/framing.js';
import type { PipeResponse } from '../../protocol/pipe-messages.js';

/** A raw socket for feeding the pipe server arbitrary bytes and reading its frames back. */
export class RawPipe {
  readonly frames: PipeResponse[] = [];
  closed = false;
  private readonly reader = new FrameReader();
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      for (const f of this.reader.push(d)) if (f.ok) this.frames.push(f.value as PipeResponse);
      this.wake();
    });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => {});
  }

  static open(path: string): Promise<RawPipe> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => resolve(new RawPipe(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  write(bytes: Buffer | Uint8Array): void {
    this.socket.write(bytes);
  }

  send(message: unknown): void {
    this.socket.write(encodeFrame(message));
  }

  /** Waits until `pred` holds over the frames so far, or the socket closes, or 10 s pass. */
  async until(pred: (frames: PipeResponse[]) => boolean, ms = 10_000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pred(this.frames)) {
      if (this.closed || Date.now() > deadline) return pred(this.frames);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return true;
  }

  close(): void {
    this.socket.destroy();
  }
}
