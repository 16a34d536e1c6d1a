import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { CrucibleError } from '../../../protocol/errors.js';
import { decodeAudio } from '../../../workers/audio/decode.js';
import { ffmpegPath, viaFfmpeg } from '../../../workers/audio/ffmpeg.js';
import { id3Length, mpegFrame } from '../../../workers/audio/formats.js';
import { bestLag, encode, monoReference, signal, snrDb, wavBytes, type Encoded, type WavSampleFormat } from '../../helpers/audio.js';

const rejects400 = async (t: Test, p: Promise<unknown>, pattern: RegExp, what: string) => {
  try {
    await p;
    t.fail(`${what}: decoded instead of refusing`);
  } catch (err) {
    t.ok(err instanceof CrucibleError, `${what}: a CrucibleError, not a crash (${(err as Error).message})`);
    const e = err as CrucibleError;
    t.equal(e.status, 400, `${what}: 400`);
    t.equal(e.code, 'invalid_request');
    t.equal(e.param, 'file');
    t.match(e.message, pattern, `${what}: says why`);
  }
};

// Every sample format, at 16 kHz and at rates that need resampling up and down.
const FORMATS: [WavSampleFormat, number][] = [['u8', 30], ['s16', 75], ['s24', 95], ['s32', 95], ['f32', 95], ['f64', 95], ['alaw', 30], ['mulaw', 30]];
for (const [format, minSnr] of FORMATS) {
  for (const extensible of [false, true]) {
    if (extensible && (format === 'alaw' || format === 'mulaw')) continue;
    t.test(`WAV ${format}${extensible ? ' (WAVE_FORMAT_EXTENSIBLE)' : ''}`, async (t) => {
      for (const [rate, channels] of [[16000, 1], [44100, 2], [48000, 6], [8000, 1], [22050, 2]]) {
        const wav = wavBytes(signal(rate, 1.5, channels), rate, format, extensible);
        const got = await decodeAudio(wav);
        const ref = monoReference(16000, 1.5, rate, channels);
        t.equal(got.length, ref.length, `${rate} Hz x${channels}: ${ref.length} samples at 16 kHz`);
        const snr = snrDb(got, ref);
        t.ok(snr >= minSnr, `${rate} Hz x${channels}: ${snr.toFixed(1)} dB against the signal sampled at 16 kHz (>= ${minSnr})`);
      }
    });
  }
}

t.test('the resampler is band-limited: tones above 8 kHz do not alias into the output', async (t) => {
  for (const [rate, tone] of [[44100, 10000], [48000, 12000], [44100, 15000]]) {
    const x = new Float32Array(rate);
    for (let i = 0; i < x.length; i++) x[i] = 0.5 * Math.sin((2 * Math.PI * tone * i) / rate);
    const got = await decodeAudio(wavBytes([x], rate, 'f32'));
    let e = 0;
    for (let i = 2000; i < got.length - 2000; i++) e += got[i] * got[i];
    const db = 10 * Math.log10(e / (got.length - 4000) / 0.125);
    t.ok(db < -60, `${tone} Hz at ${rate} Hz: ${db.toFixed(1)} dB after resampling (< -60)`);
  }
  // And one in the passband keeps its level.
  const x = new Float32Array(44100);
  for (let i = 0; i < x.length; i++) x[i] = 0.5 * Math.sin((2 * Math.PI * 5000 * i) / 44100);
  const got = await decodeAudio(wavBytes([x], 44100, 'f32'));
  let e = 0;
  for (let i = 2000; i < got.length - 2000; i++) e += got[i] * got[i];
  t.ok(Math.abs(10 * Math.log10(e / (got.length - 4000) / 0.125)) < 0.05, '5 kHz keeps its level within 0.05 dB');
});

// The same signal through each codec decodes to the WAV original's samples within the codec's loss.
const original = wavBytes(signal(44100, 2.5, 2), 44100, 's16');
const fromWav = await decodeAudio(original);
const LOSSY: Record<Encoded, number> = { flac: Infinity, mp3: 20, vorbis: 30, opus: 25 };
const encoded = Object.fromEntries((Object.keys(LOSSY) as Encoded[]).map((f) => [f, encode(original, f)])) as Record<Encoded, Uint8Array>;

for (const format of Object.keys(LOSSY) as Encoded[]) {
  t.test(`${format} decodes to the WAV original's samples`, async (t) => {
    const got = await decodeAudio(encoded[format], { filename: 'blob', contentType: 'application/octet-stream' });
    if (format === 'flac') {
      t.equal(got.length, fromWav.length, 'as many samples');
      t.ok(got.every((x, i) => x === fromWav[i]), 'FLAC is lossless: the very same samples');
      return;
    }
    t.ok(Math.abs(got.length - fromWav.length) <= 16000 * 0.03, `length within 30 ms: ${got.length} vs ${fromWav.length}`);
    const lag = bestLag(got, fromWav, 800);
    t.equal(lag, 0, 'no offset: the codec\'s delay and padding are removed');
    const snr = snrDb(got, fromWav, 1000, lag);
    t.ok(snr >= LOSSY[format], `${snr.toFixed(1)} dB against the original (>= ${LOSSY[format]})`);
  });
}

t.test('a truncated file is a 400, never a crash', async (t) => {
  for (const [name, bytes] of [['wav', original], ...Object.entries(encoded)] as [string, Uint8Array][]) {
    await rejects400(t, decodeAudio(bytes.subarray(0, Math.floor(bytes.length * 0.6))), /truncated|damaged/, `${name} cut at 60%`);
    await rejects400(t, decodeAudio(bytes.subarray(0, 30)), /truncated|damaged|format/, `${name} cut to 30 bytes`);
  }
  await rejects400(t, decodeAudio(new Uint8Array(0)), /empty/, 'an empty file');
});

t.test('cut exactly between MP3 frames or Ogg pages, still a 400', async (t) => {
  const mp3 = encoded.mp3;
  let off = id3Length(mp3);
  for (let i = 0; i < 20; i++) off += mpegFrame(mp3, off)!.length;
  await rejects400(t, decodeAudio(mp3.subarray(0, off)), /Xing\/Info header counts \d+ frames and 19 are present/, 'MP3 cut after 20 whole frames');
  for (const name of ['vorbis', 'opus'] as const) {
    const ogg = encoded[name];
    const pages: number[] = [];
    for (let o = 0; o < ogg.length;) {
      let body = 0;
      for (let i = 0; i < ogg[o + 26]; i++) body += ogg[o + 27 + i];
      o += 27 + ogg[o + 26] + body;
      pages.push(o);
    }
    await rejects400(t, decodeAudio(ogg.subarray(0, pages.at(-2))), /last page does not end the stream/, `${name} cut after its next-to-last page`);
  }
});

t.test('cut anywhere, every format is a 400', async (t) => {
  for (const [name, bytes] of [['wav', original], ...Object.entries(encoded)] as [string, Uint8Array][]) {
    const cuts = Array.from({ length: 40 }, (_, i) => Math.max(1, Math.floor((bytes.length * (i + 0.5)) / 40) - (i % 3)));
    const outcomes = new Map<string, number>();
    for (const cut of cuts) {
      let outcome: string;
      try {
        await decodeAudio(bytes.subarray(0, cut));
        outcome = 'decoded';
      } catch (err) {
        outcome = err instanceof CrucibleError ? `${err.status} ${err.param}` : `crash: ${(err as Error).message}`;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    t.same([...outcomes.keys()], ['400 file'], `${name}: ${cuts.length} cut points, each a 400 on 'file' (${JSON.stringify(Object.fromEntries(outcomes))})`);
  }
});

t.test('an unknown format is a 400 naming the accepted formats', async (t) => {
  const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(200).fill(7)]);
  await rejects400(t, decodeAudio(png, { filename: 'speech.png' }), /WAV.*MP3.*FLAC.*Vorbis.*Opus/, 'a PNG');
  const text = new TextEncoder().encode('this is not audio at all '.repeat(40));
  await rejects400(t, decodeAudio(text, { filename: 'notes.txt', contentType: 'text/plain' }), /WAV.*MP3/, 'text');
  const oggFlac = Uint8Array.from([...encoded.vorbis]);
  oggFlac.set(new TextEncoder().encode('\x7fFLAC\0\0'), 28);
  await rejects400(t, decodeAudio(oggFlac), /Ogg stream of a codec other than Vorbis or Opus/, 'an Ogg FLAC stream');
});

t.test('the hint names the format when the magic bytes do not', async (t) => {
  // MP3 frames after a few junk bytes: not sniffed as MP3, but read as one when the name says so.
  const junk = new Uint8Array(encoded.mp3.length + 3);
  junk.set([1, 2, 3]);
  junk.set(encoded.mp3, 3);
  const got = await decodeAudio(junk, { filename: 'speech.MP3' });
  t.ok(snrDb(got, fromWav, 1000) >= LOSSY.mp3, 'decoded as MP3 by its name');
  // Without the hint only ffmpeg, where it is on PATH, would still read it.
  if (!ffmpegPath()) {
    await rejects400(t, decodeAudio(junk, { filename: 'blob' }), /accepted audio formats/, 'without the hint');
    await rejects400(t, decodeAudio(junk.subarray(1000), { filename: 'clip.wav', contentType: 'audio/wav' }), /accepted audio formats/, 'a name that says WAV does not make it one');
  }
});

t.test('decodes inside a worker thread', async (t) => {
  const worker = new Worker(new URL('../../helpers/audio-decode-worker.js', import.meta.url), { workerData: encoded.opus });
  const result = await new Promise<{ length?: number; error?: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  t.equal(result.error, undefined);
  t.ok(Math.abs((result.length ?? 0) - fromWav.length) <= 480, `Opus in a worker: ${result.length} samples`);
});

// Optional: Debian's ffmpeg is never required; where it is on PATH, formats the wasm decoders do not read go through it.
const ffmpeg = ffmpegPath();
t.test('with ffmpeg on PATH, other formats (M4A/AAC) go through it', { skip: ffmpeg ? false : 'no ffmpeg on PATH' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cru-ffmpeg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'in.wav'), original);
  execFileSync(ffmpeg!, ['-hide_banner', '-loglevel', 'error', '-i', join(dir, 'in.wav'), '-c:a', 'aac', '-b:a', '128k', join(dir, 'out.m4a')]);
  const got = await decodeAudio(new Uint8Array(readFileSync(join(dir, 'out.m4a'))), { filename: 'clip.m4a' });
  t.ok(Math.abs(got.length - fromWav.length) <= 16000 * 0.03, `length within 30 ms: ${got.length} vs ${fromWav.length}`);
  const lag = bestLag(got, fromWav, 800);
  t.ok(Math.abs(lag) <= 2, `no offset to speak of (${lag} samples)`);
  const snr = snrDb(got, fromWav, 1000, lag);
  t.ok(snr >= 20, `${snr.toFixed(1)} dB against the WAV original (>= 20)`);
  await rejects400(t, decodeAudio(new TextEncoder().encode('still not audio '.repeat(50))), /accepted audio formats are WAV/, 'what ffmpeg cannot read either');
  // ffmpeg as the reference for the downmix and the resampler: `ffmpeg -ac 1 -ar 16000` is how
  // openai-whisper reads audio.
  for (const [rate, channels] of [[44100, 2], [48000, 1], [22050, 2], [8000, 1]]) {
    const wav = wavBytes(signal(rate, 2, channels), rate, 's16');
    const ours = await decodeAudio(wav);
    const theirs = await viaFfmpeg(ffmpeg!, wav, 16000);
    t.equal(ours.length, theirs.length, `${rate} Hz x${channels}: as many samples as ffmpeg gives`);
    const snr = snrDb(ours, theirs, 200);
    t.ok(snr >= 85, `${rate} Hz x${channels}: ${snr.toFixed(1)} dB against ffmpeg -ac 1 -ar 16000 (>= 85)`);
  }
});
