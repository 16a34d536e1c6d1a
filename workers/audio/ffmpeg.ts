import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { unknownFormat } from './formats.js';

/**
 * The optional fallback for formats the WebAssembly decoders do not read (M4A/AAC, WebM, ...):
 * Debian's `ffmpeg`, when one is on PATH. Never required: without it those formats are a 400.
 */

export function ffmpegPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, 'ffmpeg');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The file through ffmpeg, as mono float samples at `rate`; a 400 when ffmpeg cannot read it either. */
export function viaFfmpeg(ffmpeg: string, bytes: Uint8Array, rate: number): Promise<Float32Array> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', 'pipe:0', '-vn', '-f', 'f32le', '-ac', '1', '-ar', String(rate), 'pipe:1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdin.on('error', () => { /* ffmpeg stopped reading: its exit code tells */ });
    child.on('error', (e) => reject(unknownFormat(`the file is not in a format this server reads (ffmpeg: ${e.message})`)));
    child.on('close', (code) => {
      const all = Buffer.concat(out);
      if (code !== 0 || all.length < 4) {
        const why = err.trim().split('\n')[0] || `exit ${code}`;
        return reject(unknownFormat(`the file is not in an audio format this server reads (ffmpeg: ${why})`));
      }
      const samples = new Float32Array(all.length >> 2);
      new Uint8Array(samples.buffer).set(all.subarray(0, samples.length * 4));
      resolve(samples);
    });
    child.stdin.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
}
