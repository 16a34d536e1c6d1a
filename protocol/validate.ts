import { invalid } from './errors.js';

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
