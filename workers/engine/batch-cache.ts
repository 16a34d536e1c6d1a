import ort from 'onnxruntime-node';

/**
 * The KV cache of every sequence being decoded together, one tensor per layer and key/value,
 * shaped [batch, kvHeads, past, headDim]. Shorter sequences are left-padded; `padLeft` records
 * by how much so the attention mask hides the padding. Between membership changes the graph's
 * `present.*` outputs are fed straight back as `past_key_values.*` with no copy; rows are copied
 * only when a sequence joins or leaves.
 */
export class BatchCache {
  tensors: ort.Tensor[] = [];
  padLeft: number[] = [];
  past = 0;

  constructor(private readonly kvHeads: number, private readonly headDim: number) {}

  get size(): number {
    return this.padLeft.length;
  }

  /** An empty cache for one new sequence. */
  static empty(count: number, kvHeads: number, headDim: number): ort.Tensor[] {
    return Array.from({ length: count }, () => new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]));
  }

  /** Replaces the cache with the graph's present outputs after a step that added `added` positions. */
  advance(present: ort.Tensor[], added: number): void {
    this.tensors = present;
    this.past += added;
  }

  /**
   * Appends a block of rows (one sequence, or several prefilled together) whose cache holds
   * `past` positions, row r left-padded by `pads[r]`.
   */
  join(own: ort.Tensor[], past: number, pads: number[] = [0]): void {
    if (this.size === 0) {
      this.tensors = own;
      this.past = past;
      this.padLeft = [...pads];
      return;
    }
    const oldB = this.size;
    const n = pads.length;
    const newP = Math.max(this.past, past);
    const row = this.kvHeads * this.headDim;
    this.tensors = this.tensors.map((t, i) => {
      const dst = new Float32Array((oldB + n) * row * newP);
      const src = t.data as Float32Array;
      for (let b = 0; b < oldB; b++) this.copyRow(src, b, this.past, 0, dst, b, newP);
      const block = own[i].data as Float32Array;
      for (let r = 0; r < n; r++) this.copyRow(block, r, past, 0, dst, oldB + r, newP);
      return new ort.Tensor('float32', dst, [oldB + n, this.kvHeads, newP, this.headDim]);
    });
    this.padLeft = [...this.padLeft.map((p) => p + newP - this.past), ...pads.map((p) => p + newP - past)];
    this.past = newP;
  }

  /** Keeps only the given rows, trimming padding that no remaining row needs. */
  keep(rows: number[]): void {
    if (rows.length === this.size) return;
    if (rows.length === 0) {
      this.tensors = [];
      this.padLeft = [];
      this.past = 0;
      return;
    }
    const trim = Math.min(...rows.map((r) => this.padLeft[r]));
    const newP = this.past - trim;
    const row = this.kvHeads * this.headDim;
    this.tensors = this.tensors.map((t) => {
      const dst = new Float32Array(rows.length * row * newP);
      const src = t.data as Float32Array;
      rows.forEach((r, b) => this.copyRow(src, r, this.past, trim, dst, b, newP));
      return new ort.Tensor('float32', dst, [rows.length, this.kvHeads, newP, this.headDim]);
    });
    this.padLeft = rows.map((r) => this.padLeft[r] - trim);
    this.past = newP;
  }

  /** Copies row `sb` (past `sp`, skipping `skip` leading positions) right-aligned into row `db` of width `dp`. */
  private copyRow(src: Float32Array, sb: number, sp: number, skip: number, dst: Float32Array, db: number, dp: number): void {
    const hd = this.headDim;
    const len = sp - skip;
    for (let h = 0; h < this.kvHeads; h++) {
      const s = ((sb * this.kvHeads + h) * sp + skip) * hd;
      const d = ((db * this.kvHeads + h) * dp + (dp - len)) * hd;
      dst.set(src.subarray(s, s + len * hd), d);
    }
  }
}
