import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { REPO } from './service.js';

/*
 * OpenAI's speech-to-text component schemas (test/fixtures/openai-openapi/audio.json, an
 * unmodified extract; see the folder's README), loaded as openapi-conformance.test.ts loads
 * components.json: `nullable: true` becomes "or null", `#/components/schemas/X` refers to the
 * fixture's X; nothing else changes. Two OpenAPI keywords stay annotations: `optional` (on
 * `logprobs`, not JSON Schema) and `discriminator`, which these schemas put on an `anyOf` (ajv's
 * discriminator support takes only `oneOf`); the `anyOf` itself still validates.
 */
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
type Schema = Record<string, unknown>;
const idOf = (name: string) => `openai-openapi-audio:${name}`;

function adapt(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(adapt);
  if (!node || typeof node !== 'object') return node;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string') out.$ref = idOf(decodeURIComponent(/^#\/components\/schemas\/([^/]+)$/.exec(v)![1]));
    else if (k !== 'nullable' || typeof v !== 'boolean') out[k] = adapt(v);
  }
  return (node as Schema).nullable === true ? { anyOf: [out, { type: 'null' }] } : out;
}

let ajv: Ajv2020 | null = null;

/** The validator of one audio component schema (`CreateTranscriptionResponseVerboseJson`...); its errors in `.errors`. */
export function openaiAudioSchema(name: string): ValidateFunction {
  if (!ajv) {
    const file = join(REPO, 'test', 'fixtures', 'openai-openapi', 'audio.json');
    const schemas = (JSON.parse(readFileSync(file, 'utf8')) as { components: { schemas: Record<string, Schema> } }).components.schemas;
    ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true, discriminator: false });
    addFormats(ajv);
    ajv.addVocabulary(['example', 'x-oaiMeta', 'x-oaiTypeLabel', 'x-stainless-const', 'optional', 'discriminator']);
    for (const [n, schema] of Object.entries(schemas)) ajv.addSchema({ ...(adapt(schema) as Schema), $id: idOf(n) });
  }
  const v = ajv.getSchema(idOf(name));
  if (!v) throw new Error(`${name} is not in the fixture`);
  return v;
}
