import ort from 'onnxruntime-node';

interface Entry {
  tokens: number[];
  /** One sequence's KV cache, [1, kvHeads, tokens.length, headDim] per layer and key/value. */
  kv: ort.Tensor[];
  bytes: number;
}

/**
 * The KV caches of recently finished sequences, so a request whose tokens start with one of them
 * (the next turn of a conversation, a shared system prompt) prefills only what is new, as
 * llama.cpp's server and vLLM do. Bounded by bytes, least recently used first out. It lives in
 * the model's worker: entries never cross models, and a changed model file is a new worker.
 */
export class PrefixCache {
  private readonly entries: Entry[] = [];
  bytes = 0;
  /** Prompt tokens served from the cache, for the benchmark and the tests. */
  hits = 0;

  /** `minTokens`: shorter common prefixes are not worth a copy. */
  constructor(readonly budgetBytes: number, private readonly kvHeads: number, private readonly headDim: number, private readonly minTokens = 8) {}

  /**
   * Stores a sequence's cache (its tensors hold `valid` positions starting at `from` in a width of
   * `width`), replacing an entry that is a prefix of it.
   */
  store(tokens: number[], tensors: ort.Tensor[], row: number, from: number, width: number): void {
    if (this.budgetBytes <= 0 || tokens.length < this.minTokens) return;
    const len = tokens.length;
    const per = this.kvHeads * len * this.headDim;
    const kv = tensors.map((t) => {
      const src = t.data as Float32Array | Uint16Array;
      const dst = t.type === 'float16' ? new Uint16Array(per) : new Float32Array(per);
      for (let h = 0; h < this.kvHeads; h++) {
        const s = ((row * this.kvHeads + h) * width + from) * this.headDim;
        dst.set(src.subarray(s, s + len * this.headDim) as never, h * len * this.headDim);
      }
      return new ort.Tensor(t.type as 'float32', dst as Float32Array, [1, this.kvHeads, len, this.headDim]);
    });
    const bytes = kv.reduce((sum, t) => sum + (t.data as ArrayBufferView).byteLength, 0);
    if (bytes > this.budgetBytes) return;
    // An entry this one extends is no longer needed.
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      if (e.tokens.length <= len && e.tokens.every((tok, j) => tok === tokens[j])) this.drop(i);
    }
    this.entries.push({ tokens: [...tokens], kv, bytes });
    this.bytes += bytes;
    while (this.bytes > this.budgetBytes && this.entries.length > 0) this.drop(0);
  }

  /**
   * The longest cached prefix of `prompt`, leaving at least one token to prefill (its logits pick
   * the first new token): a fresh copy of that many positions, or null.
   */
  take(prompt: number[]): { length: number; kv: ort.Tensor[] } | null {
    let best = -1;
    let bestLen = 0;
    for (let i = 0; i < this.entries.length; i++) {
      const t = this.entries[i].tokens;
      let n = 0;
      const max = Math.min(t.length, prompt.length - 1);
      while (n < max && t[n] === prompt[n]) n++;
      if (n > bestLen) { bestLen = n; best = i; }
    }
    if (best < 0 || bestLen < this.minTokens) return null;
    const entry = this.entries[best];
    // Most recently used last.
    this.entries.splice(best, 1);
    this.entries.push(entry);
    const full = entry.tokens.length;
    const kv = entry.kv.map((t) => {
      const src = t.data as Float32Array | Uint16Array;
      const per = this.kvHeads * bestLen * this.headDim;
      const dst = t.type === 'float16' ? new Uint16Array(per) : new Float32Array(per);
      for (let h = 0; h < this.kvHeads; h++) {
        dst.set(src.subarray(h * full * this.headDim, (h * full + bestLen) * this.headDim) as never, h * bestLen * this.headDim);
      }
      return new ort.Tensor(t.type as 'float32', dst as Float32Array, [1, this.kvHeads, bestLen, this.headDim]);
    });
    this.hits += bestLen;
    return { length: bestLen, kv };
  }

  private drop(i: number): void {
    this.bytes -= this.entries[i].bytes;
    this.entries.splice(i, 1);
  }

  get size(): number {
    return this.entries.length;
  }
}
