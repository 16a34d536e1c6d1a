import sharp from 'sharp';
import { CrucibleError } from '../../protocol/errors.js';

/** An RGB image, 3 bytes a pixel, row-major. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Decodes PNG or JPEG bytes; refuses images over `maxPixels` before decoding them. */
export async function decodeImage(bytes: Uint8Array, maxPixels: number, param: string): Promise<RgbImage> {
  let meta;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new CrucibleError('invalid_request', `${param} is not a decodable image: ${(err as Error).message}`, param);
  }
  if (!meta.width || !meta.height) throw new CrucibleError('invalid_request', `${param} has no dimensions`, param);
  if (meta.width * meta.height > maxPixels) {
    throw new CrucibleError('payload_too_large', `${param} is ${meta.width}x${meta.height}; at most ${maxPixels} pixels are accepted`, param);
  }
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels }).rotate().removeAlpha().toColourspace('srgb')
      .raw().toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (err) {
    throw new CrucibleError('invalid_request', `${param} could not be decoded: ${(err as Error).message}`, param);
  }
}

/** Bilinear resize (libvips), as the reference pre-processing does with cv2.resize. */
export async function resize(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (img.width === width && img.height === height) return img;
  const data = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
}

/**
 * CHW float tensor data from an image: channels in `order` (the models trained on OpenCV's BGR),
 * each value `(v / 255 - mean[c]) / std[c]`, written into a width of `padTo` (zeros beyond).
 */
export function toChw(img: RgbImage, mean: number[], std: number[], order: 'rgb' | 'bgr', padTo = img.width): Float32Array {
  const { width, height, data } = img;
  const out = new Float32Array(3 * height * padTo);
  const plane = height * padTo;
  for (let c = 0; c < 3; c++) {
    const src = order === 'bgr' ? 2 - c : c;
    const m = mean[c];
    const s = std[c];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        out[c * plane + y * padTo + x] = (data[(y * width + x) * 3 + src] / 255 - m) / s;
      }
    }
  }
  return out;
}

/** Samples the quadrilateral `box` (clockwise from top-left) into an upright w x h image. */
export function cropQuad(img: RgbImage, box: [number, number][], w: number, h: number): RgbImage {
  const [p0, p1, , p3] = box;
  const out = new Uint8Array(w * h * 3);
  const ux = (p1[0] - p0[0]) / w;
  const uy = (p1[1] - p0[1]) / w;
  const vx = (p3[0] - p0[0]) / h;
  const vy = (p3[1] - p0[1]) / h;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sx = p0[0] + (x + 0.5) * ux + (y + 0.5) * vx - 0.5;
      const sy = p0[1] + (x + 0.5) * uy + (y + 0.5) * vy - 0.5;
      const x0 = Math.max(0, Math.min(img.width - 1, Math.floor(sx)));
      const y0 = Math.max(0, Math.min(img.height - 1, Math.floor(sy)));
      const x1 = Math.min(img.width - 1, x0 + 1);
      const y1 = Math.min(img.height - 1, y0 + 1);
      const fx = Math.max(0, Math.min(1, sx - x0));
      const fy = Math.max(0, Math.min(1, sy - y0));
      for (let c = 0; c < 3; c++) {
        const a = img.data[(y0 * img.width + x0) * 3 + c];
        const b = img.data[(y0 * img.width + x1) * 3 + c];
        const d = img.data[(y1 * img.width + x0) * 3 + c];
        const e = img.data[(y1 * img.width + x1) * 3 + c];
        out[(y * w + x) * 3 + c] = Math.round((a * (1 - fx) + b * fx) * (1 - fy) + (d * (1 - fx) + e * fx) * fy);
      }
    }
  }
  return { data: out, width: w, height: h };
}

/** Rotates 90 degrees counter-clockwise (numpy's rot90). */
export function rot90(img: RgbImage): RgbImage {
  const { width: w, height: h } = img;
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const nx = y;
      const ny = w - 1 - x;
      for (let c = 0; c < 3; c++) out[(ny * h + nx) * 3 + c] = img.data[(y * w + x) * 3 + c];
    }
  }
  return { data: out, width: h, height: w };
}

export function rot180(img: RgbImage): RgbImage {
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[(n - 1 - i) * 3 + c] = img.data[i * 3 + c];
  return { data: out, width: img.width, height: img.height };
}
