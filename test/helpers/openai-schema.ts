import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { REPO } from './service.js';

/*
 * OpenAI's component schemas (test/fixtures/openai-openapi), loaded the way
 * test/transports/http/openapi-conformance.test.ts loads them (components.json and embeddings.json): `nullable: true` becomes "or null",
 * `#/components/schemas/X` refers to the fixture's X; nothing else changes.
 */
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
type Schema = Record<string, unknown>;
const idOf = (name: string) => `openai-openapi:${name}`;

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

/** The validator of one component schema (`CreateEmbeddingResponse`...). */
export function openaiSchema(name: string): ValidateFunction {
  if (!ajv) {
    const read = (file: string) => (JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'openai-openapi', file), 'utf8')) as { components: { schemas: Record<string, Schema> } }).components.schemas;
    const schemas = { ...read('components.json'), ...read('embeddings.json') };
    ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true, discriminator: true });
    addFormats(ajv);
    ajv.addFormat('unixtime', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= 0 });
    // Embedding vectors are 'format: float' numbers: any JSON number is one.
    ajv.addFormat('float', { type: 'number', validate: (n: number) => Number.isFinite(n) });
    ajv.addVocabulary(['example', 'x-oaiMeta', 'x-oaiTypeLabel', 'x-stainless-const']);
    for (const [n, schema] of Object.entries(schemas)) ajv.addSchema({ ...(adapt(schema) as Schema), $id: idOf(n) });
  }
  const v = ajv.getSchema(idOf(name));
  if (!v) throw new Error(`${name} is not in the fixture`);
  return v;
}
