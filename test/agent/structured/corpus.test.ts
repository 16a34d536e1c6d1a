import t from 'tap';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { join } from 'node:path';
import { symlinkSync } from 'node:fs';
import { SHARED_MODELS, startTestService } from '../../helpers/service.js';
import { SCHEMAS } from './schemas.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

t.ok(SCHEMAS.length >= 50, `${SCHEMAS.length} schemas in the corpus`);

const post = (url: string, body: unknown) => fetch(`${url}/v1/chat/completions`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

/** Runs `fn` over `items` with at most `width` in flight: requests batch in the worker. */
async function pool<T, R>(items: T[], width: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i], i); }
  }));
  return out;
}

for (const [model, maxTokens] of [['stories260k', 300], ['bench15m', 200]] as const) {
  t.test(`every output of ${model} at temperature 1 parses and validates, over the corpus and two seeds`, async (t) => {
    const svc = await startTestService(t);
    if (model === 'bench15m') symlinkSync(join(SHARED_MODELS, 'bench15m'), join(svc.config.modelsDir, 'bench15m'));
    let valid = 0;
    let total = 0;
    const failures: string[] = [];
    await pool(SCHEMAS, 8, async (schema, i) => {
      const res = await post(svc.url, {
        model, messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 1, seed: 1000 + i, n: 2, max_tokens: maxTokens,
        response_format: { type: 'json_schema', json_schema: { name: `s${i}`, schema, strict: i % 2 === 0 } },
      });
      const body = await res.json() as any;
      if (res.status !== 200) { failures.push(`schema ${i}: HTTP ${res.status} ${JSON.stringify(body)}`); total += 2; return; }
      const check = ajv.compile(schema);
      for (const c of body.choices) {
        total++;
        try {
          const value = JSON.parse(c.message.content);
          if (check(value) && c.finish_reason === 'stop') valid++;
          else failures.push(`schema ${i}: ${c.message.content} (${c.finish_reason}) ${ajv.errorsText(check.errors)}`);
        } catch {
          failures.push(`schema ${i}: does not parse: ${c.message.content} (${c.finish_reason})`);
        }
      }
    });
    t.equal(valid, total, `${valid} of ${total} outputs valid`);
    t.same(failures.slice(0, 5), [], 'no failures');
    t.equal(total, SCHEMAS.length * 2);
  });
}
