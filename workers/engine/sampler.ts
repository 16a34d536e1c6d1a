import { randomInt } from 'node:crypto';
import type { SamplingParams } from '../../protocol/chat.js';

/** splitmix32: tiny, fast and fully determined by the seed, so the same seed gives the same text. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
}

// Candidates further than this below the best logit (after temperature) carry < 1e-9 of the mass.
const LOGIT_WINDOW = 20.7;

/** Picks the next token of one sequence from its logits row. */
export class Sampler {
  private readonly random: () => number;
  private readonly counts = new Map<number, number>();
  readonly greedy: boolean;
  /** top-k or top-p cut the distribution (applied after a grammar's mask, so the mask must be whole). */
  readonly truncates: boolean;
  private idx: Int32Array = new Int32Array(0);
  private prob: Float64Array = new Float64Array(0);

  constructor(private readonly p: SamplingParams) {
    this.random = seededRandom(p.seed ?? randomInt(0, 2 ** 32 - 1));
    this.greedy = p.temperature === 0 || p.topK === 1;
    this.truncates = !this.greedy && (p.topK > 0 || p.topP < 1);
  }

  /** Records a generated token for the presence and frequency penalties. */
  accept(token: number): void {
    if (this.p.presencePenalty !== 0 || this.p.frequencyPenalty !== 0) {
      this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
    }
  }

  /**
   * `logits` is read in place from `offset`; only the penalised entries are copied. `mask` (a
   * grammar's bitmask, bit set = allowed) removes tokens before anything else sees them.
   */
  sample(logits: Float32Array, offset: number, vocab: number, mask?: Int32Array | null): number {
    const penalised = this.counts.size > 0;
    const value = (i: number) => {
      if (mask && ((mask[i >> 5] >>> (i & 31)) & 1) === 0) return -Infinity;
      const v = logits[offset + i];
      if (!penalised) return v;
      const c = this.counts.get(i);
      return c === undefined ? v : v - this.p.frequencyPenalty * c - this.p.presencePenalty;
    };
    let best = 0;
    let bestV = -Infinity;
    if (mask) {
      // Only the allowed tokens, a 32-bit word of the mask at a time: a grammar state often
      // allows a handful of a vocabulary's tens of thousands.
      for (let w = 0; w < mask.length; w++) {
        let bits = mask[w];
        while (bits !== 0) {
          const low = bits & -bits;
          const i = (w << 5) + 31 - Math.clz32(low);
          bits ^= low;
          if (i >= vocab) break;
          const v = value(i);
          if (v > bestV) { bestV = v; best = i; }
        }
      }
    } else if (!penalised) {
      for (let i = 0; i < vocab; i++) {
        const v = logits[offset + i];
        if (v > bestV) { bestV = v; best = i; }
      }
    } else {
      for (let i = 0; i < vocab; i++) {
        const v = value(i);
        if (v > bestV) { bestV = v; best = i; }
      }
    }
    if (this.greedy) return best;

    const t = this.p.temperature;
    if (this.idx.length < vocab) { this.idx = new Int32Array(vocab); this.prob = new Float64Array(vocab); }
    let n = 0;
    const floor = bestV - LOGIT_WINDOW * t;
    for (let i = 0; i < vocab; i++) {
      const v = value(i);
      if (v >= floor) { this.idx[n] = i; this.prob[n] = Math.exp((v - bestV) / t); n++; }
    }
    if (!this.truncates) {
      // Without top-k / top-p nothing needs ranking: one pass over the candidates draws the token.
      let total = 0;
      for (let j = 0; j < n; j++) total += this.prob[j];
      let r = this.random() * total;
      for (let j = 0; j < n; j++) {
        r -= this.prob[j];
        if (r <= 0) return this.idx[j];
      }
      return this.idx[n - 1];
    }
    const cand = Array.from(this.idx.subarray(0, n));
    const pr = new Map<number, number>();
    for (let j = 0; j < n; j++) pr.set(cand[j], this.prob[j]);
    cand.sort((a, b) => pr.get(b)! - pr.get(a)! || a - b);
    let keep = this.p.topK > 0 ? Math.min(this.p.topK, cand.length) : cand.length;
    let total = 0;
    for (let j = 0; j < keep; j++) total += pr.get(cand[j])!;
    if (this.p.topP < 1) {
      let acc = 0;
      for (let j = 0; j < keep; j++) {
        acc += pr.get(cand[j])! / total;
        if (acc >= this.p.topP) { keep = j + 1; break; }
      }
      total = 0;
      for (let j = 0; j < keep; j++) total += pr.get(cand[j])!;
    }
    let r = this.random() * total;
    for (let j = 0; j < keep; j++) {
      r -= pr.get(cand[j])!;
      if (r <= 0) return cand[j];
    }
    return cand[keep - 1];
  }

  /**
   * Log-probabilities under the distribution sampled from: the logits after penalties and the
   * grammar mask, divided by the temperature (1 under greedy decoding), before top-k / top-p.
   * Returns the chosen token's and the `top` strongest alternatives'.
   */
  logprobs(logits: Float32Array, offset: number, vocab: number, token: number, top: number, mask?: Int32Array | null): { logprob: number; top: { id: number; logprob: number }[] } {
    const t = this.p.temperature === 0 ? 1 : this.p.temperature;
    const penalised = this.counts.size > 0;
    let maxV = -Infinity;
    const vals = new Float64Array(vocab);
    for (let i = 0; i < vocab; i++) {
      let v = logits[offset + i];
      if (mask && ((mask[i >> 5] >>> (i & 31)) & 1) === 0) v = -Infinity;
      else if (penalised) { const c = this.counts.get(i); if (c !== undefined) v -= this.p.frequencyPenalty * c + this.p.presencePenalty; }
      vals[i] = v / t;
      if (vals[i] > maxV) maxV = vals[i];
    }
    let sum = 0;
    for (let i = 0; i < vocab; i++) if (vals[i] > -Infinity) sum += Math.exp(vals[i] - maxV);
    const logZ = maxV + Math.log(sum);
    const best: { id: number; logprob: number }[] = [];
    if (top > 0) {
      for (let i = 0; i < vocab; i++) {
        if (vals[i] === -Infinity) continue;
        if (best.length < top || vals[i] > best[best.length - 1].logprob) {
          best.push({ id: i, logprob: vals[i] });
          best.sort((a, b) => b.logprob - a.logprob || a.id - b.id);
          if (best.length > top) best.pop();
        }
      }
    }
    return { logprob: vals[token] - logZ, top: best.map((b) => ({ id: b.id, logprob: b.logprob - logZ })) };
  }
}
