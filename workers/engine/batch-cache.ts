import ort from 'onnxruntime-node';

/**
 * The KV cache of every sequence being decoded together, one tensor per layer and key/value,
 * shaped [batch, kvHeads, past, headDim]. Shorter sequences are left-padded; `padLeft` records
 * by how much so the attention mask hides the padding. Between membership changes the graph's
 * `present.*` outputs are fed straight back as `past_key_values.*` with no copy; rows are copied
 * only when a sequence joins or leaves, and decode steps write `present.*` straight into reused
 * buffers.
 */
export class BatchCache {
  tensors: ort.Tensor[] = [];
  padLeft: number[] = [];
  past = 0;
  /**
   * Two sets of buffers the decode steps write `present.*` into, alternately: ONNX Runtime fills
   * a caller's buffer directly, which saves allocating and copying every output each step.
   */
  private readonly sets: Float32Array[][] = [[], []];
  /** Which set `tensors` live in; -1 when they are fresh arrays from a join or a trim. */
  private current = -1;

  constructor(private readonly kvHeads: number, private readonly headDim: number) {}

  /** Output tensors for the next decode step, in the set the current cache is not in. */
  presentViews(): ort.Tensor[] {
    const target = this.current === 0 ? 1 : 0;
    const b = this.size;
    const p = this.past + 1;
    const need = b * this.kvHeads * p * this.headDim;
    return this.tensors.map((_, i) => {
      let buf = this.sets[target][i];
      if (!buf || buf.length < need) {
        // Grow geometrically so a long generation reallocates only a few times.
        buf = new Float32Array(Math.max(need, Math.ceil((buf?.length ?? 0) * 2)));
        this.sets[target][i] = buf;
      }
      return new ort.Tensor('float32', buf.subarray(0, need), [b, this.kvHeads, p, this.headDim]);
    });
  }

  /** Adopts the views filled by a decode step (see presentViews). */
  advanceInPlace(views: ort.Tensor[]): void {
    this.tensors = views;
    this.current = this.current === 0 ? 1 : 0;
    this.past += 1;
  }

  get size(): number {
    return this.padLeft.length;
  }

  /** An empty cache for `batch` new sequences. */
  static empty(count: number, kvHeads: number, headDim: number, batch = 1): ort.Tensor[] {
    return Array.from({ length: count }, () => new ort.Tensor('float32', new Float32Array(0), [batch, kvHeads, 0, headDim]));
  }

  /**
   * Appends a block of rows (one sequence, or several prefilled together) whose cache holds
   * `past` positions, row r left-padded by `pads[r]`.
   */
  join(own: ort.Tensor[], past: number, pads: number[] = [0]): void {
    this.current = -1;
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
    this.current = -1;
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
