import ort from 'onnxruntime-node';
import { type RgbImage, resize, toChw } from '../image.js';
import { type Point, type RotatedRect, convexHull, corners, minAreaRect } from './geometry.js';

/** PP-OCR's DB detector settings (its published inference defaults). */
export interface DetSettings {
  limitSideLen: number;
  thresh: number;
  boxThresh: number;
  unclipRatio: number;
  minSize: number;
}

export const DET_DEFAULTS: DetSettings = { limitSideLen: 960, thresh: 0.3, boxThresh: 0.6, unclipRatio: 1.5, minSize: 3 };

export interface TextBox {
  box: Point[];
  score: number;
}

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** Finds text regions: the probability map of the DB network, thresholded and boxed. */
export async function detect(session: ort.InferenceSession, img: RgbImage, s: DetSettings): Promise<TextBox[]> {
  const ratio = Math.max(img.width, img.height) > s.limitSideLen ? s.limitSideLen / Math.max(img.width, img.height) : 1;
  const rw = Math.max(32, Math.round((img.width * ratio) / 32) * 32);
  const rh = Math.max(32, Math.round((img.height * ratio) / 32) * 32);
  const resized = await resize(img, rw, rh);
  const input = new ort.Tensor('float32', toChw(resized, MEAN, STD, 'bgr'), [1, 3, rh, rw]);
  const out = await session.run({ [session.inputNames[0]]: input });
  const prob = out[session.outputNames[0]].data as Float32Array;
  const boxes = boxesFromMap(prob, rw, rh, s);
  const sx = img.width / rw;
  const sy = img.height / rh;
  return boxes.map((b) => ({
    score: b.score,
    box: b.box.map(([x, y]) => [Math.min(img.width, Math.max(0, x * sx)), Math.min(img.height, Math.max(0, y * sy))] as Point),
  })).sort((a, b) => (Math.abs(a.box[0][1] - b.box[0][1]) < 10 ? a.box[0][0] - b.box[0][0] : a.box[0][1] - b.box[0][1]));
}

/** Connected regions above `thresh`, each scored by its mean probability and expanded (unclipped). */
export function boxesFromMap(prob: Float32Array, w: number, h: number, s: DetSettings): TextBox[] {
  const label = new Int32Array(w * h);
  const stack = new Int32Array(w * h);
  const out: TextBox[] = [];
  let next = 0;
  for (let start = 0; start < w * h; start++) {
    if (label[start] !== 0 || prob[start] <= s.thresh) continue;
    next++;
    let top = 0;
    stack[top++] = start;
    label[start] = next;
    let sum = 0;
    let count = 0;
    const edge: Point[] = [];
    while (top > 0) {
      const i = stack[--top];
      const x = i % w;
      const y = (i - x) / w;
      sum += prob[i];
      count++;
      let boundary = false;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          if (dx === 0 && dy === 0) continue;
          const nx = x + dx;
          const ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= w || ny >= h) { boundary = true; continue; }
          const j = ny * w + nx;
          if (prob[j] <= s.thresh) { boundary = true; continue; }
          if (label[j] === 0) { label[j] = next; stack[top++] = j; }
        }
      }
      // Pixel corners, so a one-pixel-wide region still has an area.
      if (boundary) edge.push([x, y], [x + 1, y], [x, y + 1], [x + 1, y + 1]);
    }
    if (count < 4) continue;
    const score = sum / count;
    if (score < s.boxThresh) continue;
    const rect = minAreaRect(convexHull(edge));
    if (Math.min(rect.w, rect.h) < s.minSize) continue;
    const grown = unclip(rect, s.unclipRatio);
    if (Math.min(grown.w, grown.h) < s.minSize + 2) continue;
    out.push({ box: corners(grown), score });
  }
  return out;
}

/** DB's unclip: grow the shrunk text kernel by area x ratio / perimeter on every side. */
export function unclip(r: RotatedRect, ratio: number): RotatedRect {
  const d = (r.w * r.h * ratio) / (2 * (r.w + r.h));
  return { ...r, w: r.w + 2 * d, h: r.h + 2 * d };
}
