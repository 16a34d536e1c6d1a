import ort from 'onnxruntime-node';
import { type RgbImage, resize, rot180, toChw } from '../image.js';

const HALF = [0.5, 0.5, 0.5];

/** The orientation classifier: is the crop upside down? (labels 0 and 180). */
export async function isUpsideDown(session: ort.InferenceSession, img: RgbImage, threshold = 0.9): Promise<boolean> {
  const h = 48;
  const maxW = 192;
  const w = Math.min(maxW, Math.max(1, Math.ceil(h * (img.width / img.height))));
  const input = toChw(await resize(img, w, h), HALF, HALF, 'bgr', maxW);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, [1, 3, h, maxW]) });
  const p = out[session.outputNames[0]].data as Float32Array;
  return p[1] > p[0] && p[1] > threshold;
}

export async function orient(cls: ort.InferenceSession | null, img: RgbImage): Promise<RgbImage> {
  return cls && (await isUpsideDown(cls, img)) ? rot180(img) : img;
}

/**
 * Reads one text line: resized to height 48, padded to at least 320 wide, then CTC greedy
 * decoding (collapse repeats, drop the blank at index 0). Confidence is the mean probability
 * of the characters kept.
 */
export async function recognize(session: ort.InferenceSession, img: RgbImage, charset: string[]): Promise<{ text: string; confidence: number }> {
  const h = 48;
  const w = Math.max(1, Math.ceil(h * (img.width / img.height)));
  const padTo = Math.max(320, w);
  const input = toChw(await resize(img, w, h), HALF, HALF, 'bgr', padTo);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, [1, 3, h, padTo]) });
  const t = out[session.outputNames[0]];
  const [, steps, classes] = t.dims as number[];
  const probs = t.data as Float32Array;
  let text = '';
  let sum = 0;
  let kept = 0;
  let prev = -1;
  for (let s = 0; s < steps; s++) {
    let best = 0;
    let bestP = -Infinity;
    for (let c = 0; c < classes; c++) {
      const v = probs[s * classes + c];
      if (v > bestP) { bestP = v; best = c; }
    }
    if (best !== 0 && best !== prev) {
      text += charset[best] ?? '';
      sum += bestP;
      kept++;
    }
    prev = best;
  }
  return { text, confidence: kept ? sum / kept : 0 };
}
