import { invalid } from './errors.js';

/**
 * The JSON Schema keywords the grammar engine (XGrammar) enforces while decoding, found by
 * checking that each makes it refuse a value that breaks it. A schema using anything else is
 * refused up front with the keyword's path: an output constrained by a grammar that silently
 * dropped a keyword could fail the caller's own validation.
 */
const ENFORCED = new Set([
  'type', 'properties', 'required', 'additionalProperties', 'items', 'prefixItems', 'minItems', 'maxItems',
  'enum', 'const', 'anyOf', '$ref', '$defs', 'definitions', 'pattern', 'minLength', 'maxLength', 'format',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minProperties', 'maxProperties',
]);

/** Keywords that describe and do not constrain. */
const ANNOTATIONS = new Set([
  'title', 'description', 'default', 'examples', '$schema', '$id', '$comment', 'deprecated', 'readOnly', 'writeOnly',
  '$anchor', 'contentMediaType', 'contentEncoding',
]);

/**
 * String formats whose grammar accepts exactly what a validator accepts. The engine's other
 * formats only approximate theirs (measured: 'date' allowed 3005-02-30, 'ipv4' leading zeros,
 * 'time' and 'date-time' unbounded fractions), so they are refused: use 'pattern' instead.
 */
export const ENFORCED_FORMATS = new Set(['uuid']);

const BOUNDS = new Set(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']);
const SUBSCHEMA_MAPS = new Set(['properties', '$defs', 'definitions']);
const SUBSCHEMA_LISTS = new Set(['anyOf', 'prefixItems']);

/** Throws `invalid_request` naming the first keyword the grammar engine cannot enforce. */
export function checkSchemaSupported(schema: unknown, path: string): void {
  if (typeof schema === 'boolean') return;
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw invalid(path, `'${path}' must be a JSON Schema object`);
  }
  for (const [key, value] of Object.entries(schema as Record<string, unknown>)) {
    const at = `${path}.${key}`;
    if (ANNOTATIONS.has(key)) continue;
    if (!ENFORCED.has(key)) {
      throw invalid(at, `the JSON Schema keyword '${key}' (at ${at}) cannot be enforced by the grammar engine; supported: ${[...ENFORCED].join(', ')}`);
    }
    const s = schema as Record<string, unknown>;
    // Measured: the engine bounds integers but not other numbers, and ignores lengths beside a format.
    if (BOUNDS.has(key) && s.type !== 'integer') {
      throw invalid(at, `'${key}' (at ${at}) can only be enforced on integers ("type": "integer"), not on ${JSON.stringify(s.type ?? 'untyped values')}`);
    }
    if ((key === 'minLength' || key === 'maxLength') && s.format !== undefined) {
      throw invalid(at, `'${key}' (at ${at}) cannot be enforced together with 'format'`);
    }
    if (key === 'format' && (typeof value !== 'string' || !ENFORCED_FORMATS.has(value))) {
      throw invalid(at, `the string format '${String(value)}' (at ${at}) cannot be enforced; supported formats: ${[...ENFORCED_FORMATS].join(', ')}`);
    }
    if (key === '$ref' && (typeof value !== 'string' || !/^#\/(\$defs|definitions)\/[^/]+$/.test(value))) {
      throw invalid(at, `'${at}' must point into this schema's $defs ('#/$defs/name'); other references cannot be resolved`);
    }
    if (SUBSCHEMA_MAPS.has(key)) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(at, `'${at}' must be an object of schemas`);
      for (const [name, sub] of Object.entries(value)) checkSchemaSupported(sub, `${at}.${name}`);
    } else if (SUBSCHEMA_LISTS.has(key)) {
      if (!Array.isArray(value) || value.length === 0) throw invalid(at, `'${at}' must be a non-empty array of schemas`);
      value.forEach((sub, i) => checkSchemaSupported(sub, `${at}[${i}]`));
    } else if (key === 'items' || key === 'additionalProperties') {
      checkSchemaSupported(value, at);
    }
  }
}
