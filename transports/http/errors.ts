import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { CrucibleError, type ErrorEnvelope, toCrucibleError } from '../../protocol/errors.js';

/** The OpenAI error envelope with the status from the protocol's error table. */
export function errorResponse(c: Context, err: unknown): Response {
  const e = toCrucibleError(err);
  const body: ErrorEnvelope = { error: e.toBody() };
  if (e.retryAfter !== undefined) c.header('retry-after', String(e.retryAfter));
  return c.json(body, e.status as ContentfulStatusCode);
}

export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** Reads a JSON body: 415 for another content type, 413 past the limit, 400 for bad JSON. */
export async function readJson(c: Context, limit = MAX_BODY_BYTES): Promise<unknown> {
  const type = c.req.header('content-type');
  if (type && !/^application\/([\w.+-]*\+)?json\b/i.test(type)) {
    throw new CrucibleError('unsupported_media_type', `Content-Type must be application/json, got '${type}'`);
  }
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > limit) throw new CrucibleError('payload_too_large', `request body is larger than ${limit} bytes`);
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.byteLength > limit) throw new CrucibleError('payload_too_large', `request body is larger than ${limit} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CrucibleError('invalid_json', 'request body is not valid UTF-8');
  }
  if (text.trim() === '') throw new CrucibleError('invalid_json', 'request body is empty; expected a JSON object');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CrucibleError('invalid_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
}
