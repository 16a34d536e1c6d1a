import type { ErrorBody } from './errors.js';
import { CrucibleError } from './errors.js';
import { OPS, type OpName } from './operations.js';

/** A request frame: the client picks `id` (unique among its requests in flight). */
export interface PipeRequest {
  id: number;
  op: OpName;
  body: Record<string, unknown> | null;
}

/** Response frames carry the request's id; a request ends with exactly one result or error. */
export type PipeResponse =
  | { id: number; type: 'chunk'; body: unknown }
  | { id: number; type: 'progress'; body: unknown }
  | { id: number; type: 'result'; body: unknown }
  | { id: number; type: 'error'; body: ErrorBody };

const MAX_ID = 2 ** 53 - 1;

/** A valid request id: an integer from 0 to 2^53-1. */
export function isRequestId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_ID;
}

/** Checks a decoded frame's shape; `id` is returned whenever it could be read, for the error frame. */
export function parsePipeRequest(value: unknown): { id: number | null; request?: PipeRequest; error?: CrucibleError } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { id: null, error: new CrucibleError('invalid_request', 'a request frame must be a map {id, op, body}') };
  }
  const v = value as Record<string, unknown>;
  const id = isRequestId(v.id) ? v.id : null;
  if (id === null) return { id: null, error: new CrucibleError('invalid_request', "'id' must be an unsigned integer from 0 to 2^53-1", 'id') };
  if (typeof v.op !== 'string') return { id, error: new CrucibleError('invalid_request', "'op' must be a string", 'op') };
  if (!(OPS as readonly string[]).includes(v.op)) {
    return { id, error: new CrucibleError('invalid_request', `unknown op '${v.op.slice(0, 64)}'; known: ${OPS.join(', ')}`, 'op') };
  }
  const body = v.body ?? null;
  if (body !== null && (typeof body !== 'object' || Array.isArray(body))) {
    return { id, error: new CrucibleError('invalid_request', "'body' must be a map or nil", 'body') };
  }
  return { id, request: { id, op: v.op as OpName, body: body as Record<string, unknown> | null } };
}
