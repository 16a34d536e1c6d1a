import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { REPO } from './service.js';

/*
 * OpenAI's component schemas (test/fixtures/openai-openapi: components.json, embeddings.json,
 * audio.json). The document is OpenAPI 3.1 (JSON Schema 2020-12) but still marks some fields with
 * 3.0's `nullable: true`, which becomes "this schema, or null"; `#/components/schemas/X` refers to
 * the fixture's X; nothing else changes. strictTypes is off: it asks schema authors to repeat
 * `type: object` beside every object keyword, which OpenAI's schemas do not always do; unknown
 * keywords still fail (strictSchema).
 */
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
type Schema = Record<string, unknown>;
const idOf = (name: string) => `openai-openapi:${name}`;

function adapt(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(adapt);
  if (!node || typeof node !== 'object') return node;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string') {
      const m = /^#\/components\/schemas\/([^/]+)$/.exec(v);
      if (!m) throw new Error(`unexpected $ref ${v}`);
      out.$ref = idOf(decodeURIComponent(m[1]));
    } else if (k !== 'nullable' || typeof v !== 'boolean') out[k] = adapt(v);
  }
  return (node as Schema).nullable === true ? { anyOf: [out, { type: 'null' }] } : out;
}

type Files = 'components.json' | 'embeddings.json' | 'audio.json';

function compile(files: Files[], discriminator: boolean, annotations: string[]): Ajv2020 {
  const read = (file: string) => (JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'openai-openapi', file), 'utf8')) as { components: { schemas: Record<string, Schema> } }).components.schemas;
  const schemas = Object.assign({}, ...files.map(read)) as Record<string, Schema>;
  const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true, discriminator });
  addFormats(ajv);
  ajv.addFormat('unixtime', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= 0 });
  // Embedding vectors are 'format: float' numbers: any JSON number is one.
  ajv.addFormat('float', { type: 'number', validate: (n: number) => Number.isFinite(n) });
  ajv.addVocabulary(['example', 'x-oaiMeta', 'x-oaiTypeLabel', 'x-stainless-const', ...annotations]);
  for (const [n, schema] of Object.entries(schemas)) ajv.addSchema({ ...(adapt(schema) as Schema), $id: idOf(n) });
  return ajv;
}

const lookup = (ajv: Ajv2020, name: string): ValidateFunction => {
  const v = ajv.getSchema(idOf(name));
  if (!v) throw new Error(`${name} is not in the fixture`);
  return v;
};

let main: Ajv2020 | null = null;
let audio: Ajv2020 | null = null;

/** The validator of one component schema (`CreateEmbeddingResponse`...). */
export function openaiSchema(name: string): ValidateFunction {
  main ??= compile(['components.json', 'embeddings.json'], true, []);
  return lookup(main, name);
}

/**
 * The validator of one speech-to-text schema (audio.json: `CreateTranscriptionResponseVerboseJson`...).
 * Two OpenAPI keywords stay annotations there: `optional` (on `logprobs`, not JSON Schema) and
 * `discriminator`, which these schemas put on an `anyOf` (ajv's discriminator support takes only
 * `oneOf`); the `anyOf` itself still validates.
 */
export function openaiAudioSchema(name: string): ValidateFunction {
  audio ??= compile(['audio.json'], false, ['optional', 'discriminator']);
  return lookup(audio, name);
}
