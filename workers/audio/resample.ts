/**
 * A streaming band-limited resampler (windowed sinc, Kaiser window), for one channel. Any input
 * rate to any output rate: the ratio is reduced to L/M, and each output sample is a dot product of
 * the input around its position with one of the kernel's precomputed phases (exact for L up to
 * MAX_PHASES; past that the position is rounded to 1/MAX_PHASES of an input sample).
 *
 * Kernel: 24 zero crossings a side, Kaiser beta 8.6 (about 85 dB of stopband), cut off at 0.9 of
 * the lower Nyquist frequency, so a 16 kHz output passes speech up to about 6.5 kHz untouched
 * and stops what would alias past 8 kHz.
 *
 * Why not a library: @alexanderolsen/libsamplerate-js (libsamplerate in WebAssembly) was tried:
 * its `simple()` splits inputs over 4 MB into chunks of its `full()` API and drops each chunk's
 * filter tail (60 s at 44.1 kHz came out 143 samples short at best quality), and its best quality
 * took 56 ms per second of audio here.
 */

const ZEROS = 24;
const BETA = 8.6;
const ROLLOFF = 0.9;
const MAX_PHASES = 4096;

function bessel0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 64; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

export class Resampler {
  private readonly L: number;
  private readonly M: number;
  private readonly P: number;
  /** Taps on each side of an output position; the buffer keeps one more for rounded phases. */
  private readonly W: number;
  private readonly phases: Float32Array[] = [];
  /** Input samples still needed, starting at absolute index `start` (negative: the zeros before the signal). */
  private buf: Float32Array;
  private start: number;
  private end: number;
  private inCount = 0;
  private outCount = 0;
  readonly passThrough: boolean;

  constructor(readonly inRate: number, readonly outRate = 16000) {
    if (!(Number.isInteger(inRate) && inRate > 0 && Number.isInteger(outRate) && outRate > 0)) {
      throw new RangeError(`sample rates must be positive integers, got ${inRate} -> ${outRate}`);
    }
    const g = gcd(inRate, outRate);
    this.L = outRate / g;
    this.M = inRate / g;
    this.passThrough = inRate === outRate;
    this.P = Math.min(this.L, MAX_PHASES);
    const c = ROLLOFF * Math.min(1, outRate / inRate);
    const half = ZEROS / c;
    this.W = Math.ceil(half);
    const norm = bessel0(BETA);
    for (let p = 0; p < this.P && !this.passThrough; p++) {
      const frac = p / this.P;
      const taps = new Float32Array(2 * this.W);
      for (let i = 0; i < taps.length; i++) {
        const d = frac - (i - this.W + 1);
        const x = d / half;
        if (Math.abs(x) >= 1) continue;
        const sinc = d === 0 ? 1 : Math.sin(Math.PI * c * d) / (Math.PI * c * d);
        taps[i] = c * sinc * (bessel0(BETA * Math.sqrt(1 - x * x)) / norm);
      }
      this.phases.push(taps);
    }
    // The signal is preceded by zeros, so the first outputs need no special case.
    this.buf = new Float32Array(this.W + 1);
    this.start = -(this.W + 1);
    this.end = 0;
  }

  /** Takes the next input samples; returns every output sample they complete. */
  push(x: Float32Array): Float32Array {
    this.inCount += x.length;
    if (this.passThrough) {
      this.outCount += x.length;
      return x.slice();
    }
    this.append(x);
    return this.run(Number.POSITIVE_INFINITY);
  }

  /** The input has ended: the remaining outputs, as many as make the whole output inCount x out/in. */
  flush(): Float32Array {
    if (this.passThrough) return new Float32Array(0);
    const total = Math.round((this.inCount * this.L) / this.M);
    this.append(new Float32Array(this.W + 2 + Math.ceil(this.M / this.L)));
    return this.run(total);
  }

  private append(x: Float32Array): void {
    const keep = this.end - this.start;
    if (keep + x.length > this.buf.length) {
      const grown = new Float32Array(Math.max(keep + x.length, this.buf.length * 2));
      grown.set(this.buf.subarray(0, keep));
      this.buf = grown;
    }
    this.buf.set(x, keep);
    this.end += x.length;
  }

  private run(limit: number): Float32Array {
    const { L, M, P, W } = this;
    // Output n needs input up to floor(n M / L) + W + 1 (the +1 for a phase rounded up).
    const room = (this.end - W - 1) * L;
    const ready = room > 0 ? Math.floor((room - 1) / M) + 1 : 0;
    const last = Math.min(ready, limit);
    const out = new Float32Array(Math.max(0, last - this.outCount));
    const buf = this.buf;
    for (let o = 0; o < out.length; o++) {
      const num = (this.outCount + o) * M;
      let k0 = Math.floor(num / L);
      let p = num - k0 * L;
      if (P !== L) {
        p = Math.round((p * P) / L);
        if (p === P) { k0++; p = 0; }
      }
      const taps = this.phases[p];
      const base = k0 - W + 1 - this.start;
      let acc = 0;
      for (let i = 0; i < taps.length; i++) acc += taps[i] * buf[base + i];
      out[o] = acc;
    }
    this.outCount += out.length;
    // Drop the input no later output needs.
    const needFrom = Math.floor((this.outCount * M) / L) - W + 1;
    const drop = needFrom - this.start;
    if (drop > 0) {
      this.buf.copyWithin(0, drop, this.end - this.start);
      this.start += drop;
    }
    return out;
  }
}
