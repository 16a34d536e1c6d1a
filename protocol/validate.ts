import { invalid, unsupported } from './errors.js';

/** Small field readers that name the offending field in their 400s. */
export type Json = Record<string, unknown>;

export function requireObject(value: unknown, param: string): Json {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(param, `'${param}' must be a JSON object`);
  }
  return value as Json;
}

export function requireString(obj: Json, key: string, path = key): string {
  const v = obj[key];
  if (typeof v !== 'string') throw invalid(path, `'${path}' is required and must be a string`);
  if (v.length === 0) throw invalid(path, `'${path}' must not be empty`);
  return v;
}

export function optionalNumber(obj: Json, key: string, min: number, max: number, path = key): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(path, `'${path}' must be a number`);
  if (v < min || v > max) throw invalid(path, `'${path}' must be between ${min} and ${max}, got ${v}`);
  return v;
}

export function optionalInteger(obj: Json, key: string, min: number, max: number, path = key): number | undefined {
  const v = optionalNumber(obj, key, min, max, path);
  if (v !== undefined && !Number.isInteger(v)) throw invalid(path, `'${path}' must be an integer, got ${v}`);
  return v;
}

export function optionalBoolean(obj: Json, key: string, path = key): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalid(path, `'${path}' must be a boolean`);
  return v;
}

/** Model names are ids, aliases or folder names: never paths. */
export function requireModelName(obj: Json, key: string, path = key): string {
  const name = requireString(obj, key, path);
  checkModelName(name, path);
  return name;
}

export function checkModelName(name: string, path = 'model'): string {
  if (name.length > 256) throw invalid(path, `'${path}' is longer than 256 characters`);
  if (name.includes('/') || name.includes('\\') || name.includes('\0') || name === '.' || name === '..') {
    throw invalid(path, `'${path}' is not a valid model name: ${JSON.stringify(name)}`);
  }
  return name;
}

/** Model ids are `name:version`; the name part. */
export const stripVersion = (id: string): string => (id.includes(':') ? id.slice(0, id.lastIndexOf(':')) : id);

/** The numeric version of an id, -1 when it has none. */
export const versionOf = (id: string): number => {
  const v = Number(id.includes(':') ? id.slice(id.lastIndexOf(':') + 1) : NaN);
  return Number.isFinite(v) ? v : -1;
};

/** For one field: whether a value means "not used" (so accepting it ignores nothing). */
export type Inert = (value: unknown) => boolean;

export const isNullish: Inert = (v) => v === undefined || v === null;
export const emptyArray: Inert = (v) => isNullish(v) || (Array.isArray(v) && v.length === 0);
export const emptyObject: Inert = (v) => isNullish(v) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);
export const oneOf = (...values: unknown[]): Inert => (v) => isNullish(v) || values.includes(v);

/**
 * Known OpenAI fields that are not implemented: any value but an inert one is a 400
 * `unsupported_parameter` naming the field, so no request is ever served with a field ignored.
 */
export function refuseUnsupported(obj: Json, fields: Record<string, Inert>, prefix = ''): void {
  for (const [key, inert] of Object.entries(fields)) {
    if (inert(obj[key])) continue;
    const path = prefix + key;
    let shown = JSON.stringify(obj[key]) ?? String(obj[key]);
    if (shown.length > 60) shown = `${shown.slice(0, 57)}...`;
    throw unsupported(path, `'${path}' is not supported by this server (got ${shown}); leave it out`);
  }
}
