/**
 * Block-wise 4-bit quantization in the layout of ONNX Runtime's `MatMulNBits` (com.microsoft):
 * for each output column n and block b of `blockSize` rows, `blockSize / 2` bytes with two
 * values each (low nibble first), one scale, and optionally a packed 4-bit zero point (8 when
 * absent). A value dequantizes as (q - zero) * scale.
 */
export interface Int4Matrix {
  K: number;
  N: number;
  blockSize: number;
  /** uint8 [N, blocks, blockSize / 2]. */
  packed: Uint8Array;
  /** [N * blocks]. */
  scales: Float32Array;
  /** uint8 [N * ceil(blocks / 2)], two 4-bit zero points a byte; absent when symmetric. */
  zeros: Uint8Array | null;
}

export const blocksOf = (K: number, blockSize: number) => Math.ceil(K / blockSize);

/** Quantizes a [K, N] row-major matrix (ONNX MatMul's B). */
export function quantizeInt4(w: Float32Array, K: number, N: number, blockSize: number, withZeros: boolean): Int4Matrix {
  if (blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) throw new Error(`block size ${blockSize} is not a power of two of at least 16`);
  const blocks = blocksOf(K, blockSize);
  const half = blockSize / 2;
  const packed = new Uint8Array(N * blocks * half);
  const scales = new Float32Array(N * blocks);
  const zeros = withZeros ? new Uint8Array(N * Math.ceil(blocks / 2)) : null;
  const q = new Uint8Array(blockSize);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const k0 = b * blockSize;
      const k1 = Math.min(K, k0 + blockSize);
      let scale: number;
      let zero: number;
      if (withZeros) {
        let lo = 0;
        let hi = 0;
        for (let k = k0; k < k1; k++) { const v = w[k * N + n]; if (v < lo) lo = v; if (v > hi) hi = v; }
        scale = (hi - lo) / 15 || 1;
        zero = Math.min(15, Math.max(0, Math.round(-lo / scale)));
      } else {
        // The value of largest magnitude maps to -8 exactly, as ONNX Runtime's quantizer does.
        let peak = 0;
        for (let k = k0; k < k1; k++) { const v = w[k * N + n]; if (Math.abs(v) > Math.abs(peak)) peak = v; }
        scale = peak / -8 || 1;
        zero = 8;
      }
      q.fill(zero);
      for (let k = k0; k < k1; k++) q[k - k0] = Math.min(15, Math.max(0, Math.round(w[k * N + n] / scale) + zero));
      const at = (n * blocks + b) * half;
      for (let i = 0; i < half; i++) packed[at + i] = q[2 * i] | (q[2 * i + 1] << 4);
      scales[n * blocks + b] = scale;
      if (zeros) {
        const zi = n * Math.ceil(blocks / 2) + (b >> 1);
        zeros[zi] |= (b & 1) === 0 ? zero : zero << 4;
      }
    }
  }
  return { K, N, blockSize, packed, scales, zeros };
}

/** The [K, N] float matrix a quantized one stands for. */
export function dequantizeInt4(m: Int4Matrix): Float32Array {
  const { K, N, blockSize } = m;
  const blocks = blocksOf(K, blockSize);
  const half = blockSize / 2;
  const out = new Float32Array(K * N);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const scale = m.scales[n * blocks + b];
      const zbyte = m.zeros ? m.zeros[n * Math.ceil(blocks / 2) + (b >> 1)] : 0;
      const zero = m.zeros ? ((b & 1) === 0 ? zbyte & 15 : zbyte >> 4) : 8;
      const at = (n * blocks + b) * half;
      for (let i = 0; i < blockSize; i++) {
        const k = b * blockSize + i;
        if (k >= K) break;
        const byte = m.packed[at + (i >> 1)];
        const q = (i & 1) === 0 ? byte & 15 : byte >> 4;
        out[k * N + n] = (q - zero) * scale;
      }
    }
  }
  return out;
}
