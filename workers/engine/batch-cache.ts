import ort from 'onnxruntime-node';

/**
 * Where each row's valid positions sit in the shared [batch, kvHeads, past, headDim] cache.
 * - `left`: right-aligned, padding first. For attention ops that take a full attention mask
 *   (plain exports, MultiHeadAttention): the mask hides the padding and position_ids carry each
 *   row's own positions.
 * - `right`: every row starts at position 0, padding last. For GroupQueryAttention, which reads
 *   each row's keys from 0 to seqlens_k and rotates the new token at seqlens_k: the graph derives
 *   seqlens_k from the number of ones in the attention mask, so each row's count must be its length.
 */
export type CacheAlignment = 'left' | 'right';

/** float32 caches, or float16 ones (q4f16 and fp16 exports) held as their raw 16-bit words. */
export type CacheType = 'float32' | 'float16';
type Buf = Float32Array | Uint16Array;

const alloc = (type: CacheType, n: number): Buf => (type === 'float16' ? new Uint16Array(n) : new Float32Array(n));

/**
 * The KV cache of every sequence being decoded together, one tensor per layer and key/value.
 * `lengths[r]` is row r's valid positions. Between membership changes the graph's `present.*`
 * outputs are fed straight back as `past_key_values.*` with no copy; rows are copied only when a
 * sequence joins or leaves, and decode steps write `present.*` straight into reused buffers.
 */
export class BatchCache {
  tensors: ort.Tensor[] = [];
  lengths: number[] = [];
  past = 0;
  /**
   * Two sets of buffers the decode steps write `present.*` into, alternately: ONNX Runtime fills
   * a caller's buffer directly, which saves allocating and copying every output each step.
   */
  private readonly sets: Buf[][] = [[], []];
  /** Which set `tensors` live in; -1 when they are fresh arrays from a join or a trim. */
  private current = -1;

  constructor(
    private readonly kvHeads: number,
    private readonly headDim: number,
    readonly align: CacheAlignment = 'left',
    readonly type: CacheType = 'float32',
  ) {}

  /** Padding before row r's positions (always 0 when right-padded). */
  padOf(r: number): number {
    return this.align === 'left' ? this.past - this.lengths[r] : 0;
  }

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
        buf = alloc(this.type, Math.max(need, Math.ceil((buf?.length ?? 0) * 2)));
        this.sets[target][i] = buf;
      }
      return new ort.Tensor(this.type, buf.subarray(0, need), [b, this.kvHeads, p, this.headDim]);
    });
  }

  /** Adopts the views filled by a decode step (see presentViews): every row grew by one. */
  advanceInPlace(views: ort.Tensor[]): void {
    this.tensors = views;
    this.current = this.current === 0 ? 1 : 0;
    this.past += 1;
    for (let r = 0; r < this.lengths.length; r++) this.lengths[r] += 1;
  }

  /** Adopts a decode step's outputs held elsewhere (device buffers): every row grew by one. */
  advanceTo(tensors: ort.Tensor[]): void {
    this.replace(tensors);
    this.past += 1;
    for (let r = 0; r < this.lengths.length; r++) this.lengths[r] += 1;
  }

  /** The same cache in other tensors (a host copy of device buffers). */
  replace(tensors: ort.Tensor[]): void {
    this.tensors = tensors;
    this.current = -1;
  }

  get size(): number {
    return this.lengths.length;
  }

  /**
   * Fills every tensor input a session still lacks in `feeds` with an empty cache of its declared
   * type and shape: for one-off forward passes (embeddings, agreement checks) over any graph.
   */
  static fillEmptyPast(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, batch: number): void {
    for (const meta of session.inputMetadata) {
      if (!meta.isTensor || feeds[meta.name]) continue;
      const dims = meta.shape.map((d, i) => (i === 0 ? batch : typeof d === 'number' ? d : 0));
      feeds[meta.name] = meta.type === 'float16' ? new ort.Tensor('float16', new Uint16Array(0), dims) : new ort.Tensor('float32', new Float32Array(0), dims);
    }
  }

  /** An empty cache for `batch` new sequences. */
  static empty(count: number, kvHeads: number, headDim: number, batch = 1, type: CacheType = 'float32'): ort.Tensor[] {
    return Array.from({ length: count }, () => new ort.Tensor(type, alloc(type, 0), [batch, kvHeads, 0, headDim]));
  }

  /**
   * Appends a block of rows (one sequence, or several prefilled together) whose cache is `past`
   * wide, row r holding `lengths[r]` valid positions in this cache's alignment.
   */
  join(own: ort.Tensor[], past: number, lengths: number[] = [past]): void {
    this.current = -1;
    if (this.size === 0) {
      this.tensors = own;
      this.past = past;
      this.lengths = [...lengths];
      return;
    }
    const oldB = this.size;
    const n = lengths.length;
    const newP = Math.max(this.past, past);
    const row = this.kvHeads * this.headDim;
    this.tensors = this.tensors.map((t, i) => {
      const dst = alloc(this.type, (oldB + n) * row * newP);
      const src = t.data as Buf;
      for (let b = 0; b < oldB; b++) this.copyRow(src, b, this.past, this.lengths[b], dst, b, newP);
      const block = own[i].data as Buf;
      for (let r = 0; r < n; r++) this.copyRow(block, r, past, lengths[r], dst, oldB + r, newP);
      return new ort.Tensor(this.type, dst, [oldB + n, this.kvHeads, newP, this.headDim]);
    });
    this.lengths = [...this.lengths, ...lengths];
    this.past = newP;
  }

  /**
   * join() as a plan, for caches held elsewhere (device buffers): the width after appending a
   * block `past` wide, and the ONNX Pad amounts (8 numbers) that bring the batch and the block to it.
   */
  joinPlan(past: number): { width: number; padBatch: number[]; padBlock: number[] } {
    const width = Math.max(this.past, past);
    const pads = (by: number) => (this.align === 'left' ? [0, 0, by, 0, 0, 0, 0, 0] : [0, 0, 0, 0, 0, 0, by, 0]);
    return { width, padBatch: pads(width - this.past), padBlock: pads(width - past) };
  }

  /** Adopts the result of a joinPlan carried out elsewhere. */
  adoptJoin(tensors: ort.Tensor[], width: number, lengths: number[]): void {
    this.replace(tensors);
    this.lengths = [...this.lengths, ...lengths];
    this.past = width;
  }

  /** keep() as a plan: the positions [start, end) every kept row's valid ones lie in. */
  keepPlan(rows: number[]): { start: number; end: number } {
    const width = Math.max(...rows.map((r) => this.lengths[r]));
    return this.align === 'left' ? { start: this.past - width, end: this.past } : { start: 0, end: width };
  }

  /** Adopts the result of a keepPlan carried out elsewhere. */
  adoptKeep(tensors: ort.Tensor[], rows: number[], plan: { start: number; end: number }): void {
    this.replace(tensors);
    this.lengths = rows.map((r) => this.lengths[r]);
    this.past = plan.end - plan.start;
  }

  /** Keeps only the given rows, trimming padding that no remaining row needs. */
  keep(rows: number[]): void {
    if (rows.length === this.size) return;
    this.current = -1;
    if (rows.length === 0) {
      this.tensors = [];
      this.lengths = [];
      this.past = 0;
      return;
    }
    const newP = Math.max(...rows.map((r) => this.lengths[r]));
    const row = this.kvHeads * this.headDim;
    this.tensors = this.tensors.map((t) => {
      const dst = alloc(this.type, rows.length * row * newP);
      const src = t.data as Buf;
      rows.forEach((r, b) => this.copyRow(src, r, this.past, this.lengths[r], dst, b, newP));
      return new ort.Tensor(this.type, dst, [rows.length, this.kvHeads, newP, this.headDim]);
    });
    this.lengths = rows.map((r) => this.lengths[r]);
    this.past = newP;
  }

  /** Copies the `len` valid positions of row `sb` (width `sp`) into row `db` (width `dp`), keeping the alignment. */
  private copyRow(src: Buf, sb: number, sp: number, len: number, dst: Buf, db: number, dp: number): void {
    const hd = this.headDim;
    const from = this.align === 'left' ? sp - len : 0;
    const to = this.align === 'left' ? dp - len : 0;
    for (let h = 0; h < this.kvHeads; h++) {
      const s = ((sb * this.kvHeads + h) * sp + from) * hd;
      const d = ((db * this.kvHeads + h) * dp + to) * hd;
      dst.set(src.subarray(s, s + len * hd), d);
    }
  }
}
