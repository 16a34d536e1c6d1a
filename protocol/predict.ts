import { CrucibleError, invalid } from './errors.js';
import { checkModelName, requireObject } from './validate.js';

export const IMAGE_TYPES = ['image/png', 'image/jpeg'] as const;
export type ImageType = (typeof IMAGE_TYPES)[number];

/** One item of a `POST /v1/predict` body (seed 001). */
export interface PredictItem {
  content_type: ImageType;
  encoder: 'base64';
  data: string;
}

export interface PredictRequest {
  /** Which predictive model; the seeds' single-model server has none, so it may be omitted. */
  model?: string;
  items: { contentType: ImageType; bytes: Uint8Array }[];
}

export type Point = [number, number];

export interface OcrPrediction {
  lines: { text: string; confidence: number; box: Point[]; detectionScore: number }[];
  text: string;
}

export interface ClassPrediction {
  labels: { label: string; score: number }[];
}

export interface PredictResponse {
  model: string;
  task: string;
  predictions: (OcrPrediction | ClassPrediction)[];
}

/** `GET /v1/model`: what the loaded model is and what its graphs take. */
export interface ModelMetadata {
  name: string;
  task: string;
  sessions: { name: string; inputs: TensorInfo[]; outputs: TensorInfo[] }[];
}

export interface TensorInfo {
  name: string;
  type: string;
  shape: (number | string)[];
}

export const MAX_ITEMS = 16;
export const MAX_IMAGE_BYTES = 16 * 1024 * 1024;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Validates the body and decodes every item's base64; `maxBytes` caps each decoded item. */
export function parsePredictRequest(input: unknown, maxBytes = MAX_IMAGE_BYTES): PredictRequest {
  const body = requireObject(input, 'body');
  let model: string | undefined;
  if (body.model !== undefined && body.model !== null) {
    if (typeof body.model !== 'string') throw invalid('model', "'model' must be a string");
    model = checkModelName(body.model, 'model');
  }
  if (!Array.isArray(body.items)) throw invalid('items', "'items' is required and must be an array");
  if (body.items.length === 0) throw invalid('items', "'items' must contain at least one item");
  if (body.items.length > MAX_ITEMS) throw invalid('items', `'items' takes at most ${MAX_ITEMS} items`);
  const items = body.items.map((raw, i) => {
    const where = `items[${i}]`;
    const item = requireObject(raw, where);
    if (typeof item.content_type !== 'string' || !(IMAGE_TYPES as readonly string[]).includes(item.content_type)) {
      throw new CrucibleError('unsupported_media_type', `'${where}.content_type' must be one of ${IMAGE_TYPES.join(', ')}`, `${where}.content_type`);
    }
    if (item.encoder !== 'base64') throw invalid(`${where}.encoder`, `'${where}.encoder' must be "base64"`);
    if (typeof item.data !== 'string' || item.data.length === 0) throw invalid(`${where}.data`, `'${where}.data' must be a non-empty base64 string`);
    const data = item.data.replace(/\s+/g, '');
    if (data.length % 4 === 1 || !BASE64.test(data)) throw invalid(`${where}.data`, `'${where}.data' is not valid base64`);
    if ((data.length * 3) / 4 > maxBytes) {
      throw new CrucibleError('payload_too_large', `'${where}.data' decodes to more than ${maxBytes} bytes`, `${where}.data`);
    }
    const bytes = Buffer.from(data, 'base64');
    return { contentType: item.content_type as ImageType, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) };
  });
  return { model, items };
}
