import { invalid, unsupported } from './errors.js';
import { type Json, requireModelName, requireObject } from './validate.js';

/** A validated POST /v1/embeddings body (pipe op `embeddings`). */
export interface EmbeddingRequest {
  model: string;
  /** Texts, or token ids given directly. */
  inputs: (string | number[])[];
  encodingFormat: 'float' | 'base64';
  /** Truncate each vector to this many dimensions and re-normalize (models that declare it). */
  dimensions?: number;
}

export interface EmbeddingResponse {
  object: 'list';
  data: { object: 'embedding'; index: number; embedding: number[] | string }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** Most inputs one request may carry (OpenAI's own limit). */
export const MAX_EMBEDDING_INPUTS = 2048;

const isTokens = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && x >= 0);

export function parseEmbeddingRequest(input: unknown): EmbeddingRequest {
  const body = requireObject(input, 'body') as Json;
  const model = requireModelName(body, 'model');
  const raw = body.input;
  let inputs: (string | number[])[];
  if (typeof raw === 'string') inputs = [raw];
  else if (isTokens(raw)) inputs = [raw];
  else if (Array.isArray(raw) && raw.length > 0 && raw.every((x) => typeof x === 'string' || isTokens(x))) inputs = raw as (string | number[])[];
  else throw invalid('input', "'input' is required: a string, an array of strings, an array of token ids, or an array of those");
  if (inputs.length > MAX_EMBEDDING_INPUTS) throw invalid('input', `'input' holds at most ${MAX_EMBEDDING_INPUTS} items`);
  const empty = inputs.findIndex((x) => x.length === 0);
  if (empty >= 0) throw invalid(inputs.length > 1 ? `input[${empty}]` : 'input', 'an input must not be empty');
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') throw invalid('encoding_format', "'encoding_format' must be float or base64");
  const dims = body.dimensions;
  if (dims !== undefined && dims !== null && (!Number.isInteger(dims) || (dims as number) < 1)) throw invalid('dimensions', "'dimensions' must be a positive integer");
  if (body.user !== undefined && body.user !== null && typeof body.user !== 'string') throw invalid('user', "'user' must be a string");
  for (const key of Object.keys(body)) {
    if (!['model', 'input', 'encoding_format', 'dimensions', 'user'].includes(key)) throw unsupported(key, `'${key}' is not an embeddings field this server implements`);
  }
  return { model, inputs, encodingFormat: format, ...(typeof dims === 'number' ? { dimensions: dims } : {}) };
}

/** A vector as OpenAI's base64 form: its float32 values, little-endian. */
export function toBase64(v: Float32Array): string {
  const out = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) out.writeFloatLE(v[i], i * 4);
  return out.toString('base64');
}
