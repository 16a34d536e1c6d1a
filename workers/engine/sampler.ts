import { randomInt } from 'node:crypto';
import type { SamplingParams } from '../../protocol/chat.js';

/** splitmix32: tiny, fast and fully determined by the seed, so the same seed gives the same text. */
function rng(seed: number): () => number {
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
  private readonly greedy: boolean;
  private idx: Int32Array = new Int32Array(0);
  private prob: Float64Array = new Float64Array(0);

  constructor(private readonly p: SamplingParams) {
    this.random = rng(p.seed ?? randomInt(0, 2 ** 32 - 1));
    this.greedy = p.temperature === 0 || p.topK === 1;
  }

  /** Records a generated token for the presence and frequency penalties. */
  accept(token: number): void {
    if (this.p.presencePenalty !== 0 || this.p.frequencyPenalty !== 0) {
      this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
    }
  }

  /** `logits` is read in place from `offset`; only the penalised entries are copied. */
  sample(logits: Float32Array, offset: number, vocab: number): number {
    const penalised = this.counts.size > 0;
    const adjust = (i: number, v: number) => {
      const c = this.counts.get(i);
      return c === undefined ? v : v - this.p.frequencyPenalty * c - this.p.presencePenalty;
    };
    let best = 0;
    let bestV = -Infinity;
    for (let i = 0; i < vocab; i++) {
      const v = penalised ? adjust(i, logits[offset + i]) : logits[offset + i];
      if (v > bestV) { bestV = v; best = i; }
    }
    if (this.greedy) return best;

    const t = this.p.temperature;
    if (this.idx.length < vocab) { this.idx = new Int32Array(vocab); this.prob = new Float64Array(vocab); }
    let n = 0;
    const floor = bestV - LOGIT_WINDOW * t;
    for (let i = 0; i < vocab; i++) {
      const v = penalised ? adjust(i, logits[offset + i]) : logits[offset + i];
      if (v >= floor) { this.idx[n] = i; this.prob[n] = Math.exp((v - bestV) / t); n++; }
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
}
