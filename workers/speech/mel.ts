/**
 * Whisper's log-mel spectrogram, computed as transformers.js' WhisperFeatureExtractor (and
 * OpenAI's `log_mel_spectrogram`) computes it: the window zero-padded to 30 s, a centred STFT with
 * reflect padding (n_fft 400, hop 160, periodic Hann), the power spectrum through Slaney-normalised
 * Slaney-scale mel filters (0-8 kHz), log10 with a 1e-10 clamp, floored at the maximum minus 8,
 * then (x + 4) / 4. The last STFT frame is dropped (3000 frames for 30 s).
 */

export interface MelConfig {
  nMels: number;
  nFft: number;
  hop: number;
  sampleRate: number;
  /** Samples in one window (30 s at 16 kHz). */
  nSamples: number;
}

export const WHISPER_MEL: MelConfig = { nMels: 80, nFft: 400, hop: 160, sampleRate: 16000, nSamples: 480000 };

const slaneyHzToMel = (f: number) => (f >= 1000 ? 15 + Math.log(f / 1000) * (27 / Math.log(6.4)) : (3 * f) / 200);
const slaneyMelToHz = (m: number) => (m >= 15 ? 1000 * Math.exp((Math.log(6.4) / 27) * (m - 15)) : (200 * m) / 3);

/** [nMels][bins] triangular filters, Slaney-normalised (librosa's `mel(htk=False, norm='slaney')`). */
export function melFilters(nMels: number, nFft: number, sampleRate: number): Float64Array[] {
  const bins = Math.floor(nFft / 2) + 1;
  const melMin = slaneyHzToMel(0);
  const melMax = slaneyHzToMel(8000);
  const pts = Array.from({ length: nMels + 2 }, (_, i) => slaneyMelToHz(melMin + ((melMax - melMin) * i) / (nMels + 1)));
  const fftFreqs = Array.from({ length: bins }, (_, i) => (Math.floor(sampleRate / 2) * i) / (bins - 1));
  const out: Float64Array[] = [];
  for (let m = 0; m < nMels; m++) {
    const row = new Float64Array(bins);
    const enorm = 2 / (pts[m + 2] - pts[m]);
    for (let j = 0; j < bins; j++) {
      const down = (fftFreqs[j] - pts[m]) / (pts[m + 1] - pts[m]);
      const up = (pts[m + 2] - fftFreqs[j]) / (pts[m + 2] - pts[m + 1]);
      row[j] = Math.max(0, Math.min(down, up)) * enorm;
    }
    out.push(row);
  }
  return out;
}

/** A mixed-radix FFT plan for one length (400 = 2^4 * 5^2 for Whisper), tables built once. */
class Fft {
  private readonly levels: { p: number; m: number; twRe: Float64Array; twIm: Float64Array; dftRe: Float64Array; dftIm: Float64Array; tRe: Float64Array; tIm: Float64Array }[] = [];

  constructor(readonly n: number) {
    const factors: number[] = [];
    for (let m = n, p = 2; m > 1;) {
      if (m % p === 0) { factors.push(p); m /= p; } else p++;
    }
    let size = n;
    for (const p of factors) {
      const m = size / p;
      // Twiddles w_size^(r k) and the p-point DFT matrix w_p^(r q).
      const twRe = new Float64Array(p * m);
      const twIm = new Float64Array(p * m);
      for (let r = 0; r < p; r++) {
        for (let k = 0; k < m; k++) {
          twRe[r * m + k] = Math.cos((-2 * Math.PI * r * k) / size);
          twIm[r * m + k] = Math.sin((-2 * Math.PI * r * k) / size);
        }
      }
      const dftRe = new Float64Array(p * p);
      const dftIm = new Float64Array(p * p);
      for (let q = 0; q < p; q++) {
        for (let r = 0; r < p; r++) {
          dftRe[q * p + r] = Math.cos((-2 * Math.PI * ((r * q) % p)) / p);
          dftIm[q * p + r] = Math.sin((-2 * Math.PI * ((r * q) % p)) / p);
        }
      }
      this.levels.push({ p, m, twRe, twIm, dftRe, dftIm, tRe: new Float64Array(p), tIm: new Float64Array(p) });
      size = m;
    }
  }

  /** Complex DFT of (re, im) into (outRe, outIm). */
  run(re: Float64Array, im: Float64Array, outRe: Float64Array, outIm: Float64Array): void {
    this.rec(re, im, 0, 1, this.n, outRe, outIm, 0, 0);
  }

  private rec(re: Float64Array, im: Float64Array, off: number, stride: number, n: number, oRe: Float64Array, oIm: Float64Array, oOff: number, depth: number): void {
    if (n === 1) { oRe[oOff] = re[off]; oIm[oOff] = im[off]; return; }
    const { p, m, twRe, twIm, dftRe, dftIm, tRe, tIm } = this.levels[depth];
    for (let r = 0; r < p; r++) this.rec(re, im, off + r * stride, stride * p, m, oRe, oIm, oOff + r * m, depth + 1);
    for (let k = 0; k < m; k++) {
      for (let r = 0; r < p; r++) {
        const a = oRe[oOff + r * m + k];
        const b = oIm[oOff + r * m + k];
        const c = twRe[r * m + k];
        const d = twIm[r * m + k];
        tRe[r] = a * c - b * d;
        tIm[r] = a * d + b * c;
      }
      for (let q = 0; q < p; q++) {
        let sr = 0;
        let si = 0;
        for (let r = 0; r < p; r++) {
          const c = dftRe[q * p + r];
          const d = dftIm[q * p + r];
          sr += tRe[r] * c - tIm[r] * d;
          si += tRe[r] * d + tIm[r] * c;
        }
        oRe[oOff + q * m + k] = sr;
        oIm[oOff + q * m + k] = si;
      }
    }
  }
}

/** Computes log-mel features of Whisper windows for one configuration (filters and FFT built once). */
export class LogMel {
  private readonly filters: Float64Array[];
  /** Each filter's non-zero bins, [first, last). */
  private readonly spans: [number, number][];
  private readonly window: Float64Array;
  private readonly fft: Fft;
  readonly frames: number;

  constructor(readonly cfg: MelConfig) {
    this.filters = melFilters(cfg.nMels, cfg.nFft, cfg.sampleRate);
    this.spans = this.filters.map((row) => {
      let lo = row.findIndex((w) => w !== 0);
      if (lo < 0) lo = 0;
      let hi = row.length;
      while (hi > lo && row[hi - 1] === 0) hi--;
      return [lo, hi];
    });
    // Periodic Hann.
    this.window = Float64Array.from({ length: cfg.nFft }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / cfg.nFft));
    this.fft = new Fft(cfg.nFft);
    this.frames = cfg.nSamples / cfg.hop;
  }

  /** Features of one window: `audio` is cut or zero-padded to 30 s; returns [nMels, 3000] row-major. */
  window30(audio: Float32Array): Float32Array {
    const { nFft, hop, nMels, nSamples } = this.cfg;
    const wave = new Float32Array(nSamples);
    wave.set(audio.subarray(0, nSamples));
    const pad = nFft / 2;
    const padded = new Float64Array(nSamples + 2 * pad);
    for (let i = 0; i < nSamples; i++) padded[pad + i] = wave[i];
    for (let i = 1; i <= pad; i++) {
      padded[pad - i] = wave[i];
      padded[pad + nSamples - 1 + i] = wave[nSamples - 1 - i];
    }
    const bins = nFft / 2 + 1;
    const frames = this.frames;
    const power = new Float32Array(bins * frames);
    const re = new Float64Array(nFft);
    const im = new Float64Array(nFft);
    const oRe = new Float64Array(nFft);
    const oIm = new Float64Array(nFft);
    for (let f = 0; f < frames; f++) {
      const off = f * hop;
      for (let j = 0; j < nFft; j++) { re[j] = padded[off + j] * this.window[j]; im[j] = 0; }
      this.fft.run(re, im, oRe, oIm);
      // Stored as float32, as the reference stores its magnitudes.
      for (let j = 0; j < bins; j++) power[f * bins + j] = oRe[j] * oRe[j] + oIm[j] * oIm[j];
    }
    const out = new Float32Array(nMels * frames);
    let max = -Infinity;
    for (let m = 0; m < nMels; m++) {
      const filt = this.filters[m];
      const [lo, hi] = this.spans[m];
      for (let f = 0; f < frames; f++) {
        let s = 0;
        const base = f * bins;
        for (let j = lo; j < hi; j++) s += filt[j] * power[base + j];
        const v = Math.log10(Math.max(1e-10, Math.fround(s)));
        out[m * frames + f] = v;
        if (v > max) max = v;
      }
    }
    const floor = max - 8;
    for (let i = 0; i < out.length; i++) out[i] = (Math.max(out[i], floor) + 4) / 4;
    return out;
  }
}
