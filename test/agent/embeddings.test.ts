import t from 'tap';
import OpenAI from 'openai';
import ort from 'onnxruntime-node';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STORIES, startTestService } from '../helpers/service.js';

const post = (url: string, body: unknown) => fetch(`${url}/v1/embeddings`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});
const cosine = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0) / Math.sqrt(a.reduce((s, x) => s + x * x, 0) * b.reduce((s, x) => s + x * x, 0));

t.test('the openai client gets stories260k vectors, base64 by default, equal to the float form and to one-at-a-time', async (t) => {
  const svc = await startTestService(t);
  const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const texts = ['Once upon a time', 'The cat sat on the mat.', 'Lily and Tom went to the park to play with a big red ball.'];
  // The client asks for base64 by default and decodes it itself.
  const viaClient = await client.embeddings.create({ model: 'stories260k', input: texts });
  t.equal(viaClient.data.length, 3);
  t.equal(viaClient.data[0].embedding.length, 64, "the model's hidden size");
  const floats = ((await (await post(svc.url, { model: 'stories260k', input: texts, encoding_format: 'float' })).json()) as any);
  for (let i = 0; i < 3; i++) {
    t.ok(viaClient.data[i].embedding.every((x, k) => Math.abs(x - floats.data[i].embedding[k]) < 1e-7), `base64 ${i} decodes to the float vector`);
    const alone = ((await (await post(svc.url, { model: 'stories260k', input: texts[i] })).json()) as any).data[0].embedding;
    t.ok(cosine(alone, floats.data[i].embedding) > 0.99999, `batched equals alone (${i}), padding changes nothing`);
    t.ok(Math.abs(Math.hypot(...alone) - 1) < 1e-5, 'unit length');
  }
  t.equal(floats.usage.prompt_tokens, floats.usage.total_tokens);
  t.ok(floats.usage.prompt_tokens > 20);
  t.ok(cosine(floats.data[0].embedding, floats.data[1].embedding) < 0.9999, 'different texts, different vectors');
});

t.test('the vector is the final hidden state the model itself turns into logits', async (t) => {
  // Independent of the embedding path: the plain export's own logits for the same tokens equal
  // the (unnormalized) last hidden state times the tied embedding table, up to its norm.
  const svc = await startTestService(t);
  const res = ((await (await post(svc.url, { model: 'stories260k', input: [[1, 403, 407, 261, 378, 2]], encoding_format: 'float' })).json()) as any);
  const v = res.data[0].embedding as number[];
  const session = await ort.InferenceSession.create(join(STORIES, 'onnx', 'model.onnx'));
  const ids = [1, 403, 407, 261, 378, 2];
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, 6]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(6).fill(1n), [1, 6]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i))), [1, 6]),
  };
  for (let l = 0; l < 5; l++) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, 4, 0, 8]);
  const logits = (await session.run(feeds)).logits.data as Float32Array;
  const last = logits.subarray(5 * 512, 6 * 512);
  // The table: read the lm head from the token embeddings via logits of unit vectors is circular;
  // instead compare directions: logits = h . E^T, so logits / |h| = v . E^T for every token.
  // Fit |h| from the best token and check every other token agrees.
  const { readLlamaWeights, embeddingRows } = await import('../../workers/optimize/llama-weights.js');
  const { readModelSpec } = await import('../../workers/engine/model-spec.js');
  const w = readLlamaWeights(readModelSpec(STORIES));
  const E = embeddingRows(w);
  const dots = Array.from({ length: 512 }, (_, tok) => v.reduce((s, x, k) => s + x * E[tok * 64 + k], 0));
  const scale = last[403] / dots[403];
  const worst = Math.max(...dots.map((d, tok) => Math.abs(d * scale - last[tok])));
  t.ok(worst < 1e-3, `v . E^T reproduces the model's logits (largest difference ${worst})`);
  await session.release();
});

t.test('bad input is refused clearly; dimensions only where the model declares it', async (t) => {
  const svc = await startTestService(t);
  const cases: [unknown, number, string, string][] = [
    [{ model: 'stories260k' }, 400, 'invalid_request', 'input'],
    [{ model: 'stories260k', input: '' }, 400, 'invalid_request', 'input'],
    [{ model: 'stories260k', input: ['a', ''] }, 400, 'invalid_request', 'input[1]'],
    [{ model: 'stories260k', input: 'a', encoding_format: 'hex' }, 400, 'invalid_request', 'encoding_format'],
    [{ model: 'stories260k', input: 'a', dimensions: 16 }, 400, 'unsupported_parameter', 'dimensions'],
    [{ model: 'stories260k', input: 'x '.repeat(600) }, 400, 'context_length_exceeded', 'input'],
    [{ model: 'stories260k', input: [[1, 99999]] }, 400, 'invalid_request', 'input'],
    [{ model: 'ghost', input: 'a' }, 404, 'model_not_found', 'model'],
  ];
  for (const [body, status, code, param] of cases) {
    const res = await post(svc.url, body);
    t.equal(res.status, status, JSON.stringify(body).slice(0, 60));
    t.match(await res.json(), { error: { code, param } });
  }
  const dir = join(svc.config.modelsDir, 'tales-mrl');
  cpSync(STORIES, dir, { recursive: true });
  writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(STORIES, 'crucible.json'), 'utf8')), id: 'tales-mrl:1', alias: 'tales-mrl', matryoshka: true, pooling: 'mean' }));
  const cut = ((await (await post(svc.url, { model: 'tales-mrl', input: 'Once upon a time', dimensions: 16, encoding_format: 'float' })).json()) as any).data[0].embedding;
  t.equal(cut.length, 16);
  t.ok(Math.abs(Math.hypot(...cut) - 1) < 1e-5, 'truncated and re-normalized');
});
