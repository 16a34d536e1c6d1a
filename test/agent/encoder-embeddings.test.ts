import t from 'tap';
import OpenAI from 'openai';
import { pipeline, env } from '@huggingface/transformers';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TINY_BERT, writeTinyEncoder } from '../helpers/encoder-models.js';
import { openaiSchema } from '../helpers/openai-schema.js';
import { startTestService } from '../helpers/service.js';

/*
 * Encoder exports (the sentence-transformers folder layout) served by /v1/embeddings, checked
 * against transformers.js' feature-extraction pipeline reading the very same folder, with the
 * pooling and normalization the folder declares. The encoder is the repo's own tiny BERT
 * (test/helpers/encoder-models.ts): random weights, real architecture, real WordPiece tokenizer.
 */

const TEXTS = ['Once upon a time', 'The cat sat on the mat.', 'Lily and Tom went to the park to play with a big red ball!', 'xyz', 'happy'];

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
};

t.test('encoder exports against transformers.js, batched against alone, and their limits', async (t) => {
  const svc = await startTestService(t);
  const models = svc.config.modelsDir;
  writeTinyEncoder(join(models, 'tiny-mean'), { pooling: 'mean' });
  writeTinyEncoder(join(models, 'tiny-cls'), { pooling: 'cls' });
  writeTinyEncoder(join(models, 'tiny-last-raw'), { pooling: 'lasttoken', normalize: false });
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${svc.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() as any };
  };
  const embed = async (model: string, input: unknown) => {
    const r = await post('/v1/embeddings', { model, input, encoding_format: 'float' });
    if (r.status !== 200) throw new Error(JSON.stringify(r.body));
    return r.body;
  };

  env.allowRemoteModels = false;
  env.localModelPath = `${models}/`;

  t.test('listed as embedding models, by their configuration alone', async (t) => {
    const rows = ((await (await fetch(`${svc.url}/openai/ps`)).json()) as { id: string; task: string }[]);
    for (const id of ['tiny-mean', 'tiny-cls', 'tiny-last-raw']) t.equal(rows.find((r) => r.id === id)?.task, 'embeddings', id);
  });

  for (const [model, pooling, normalize] of [['tiny-mean', 'mean', true], ['tiny-cls', 'cls', true], ['tiny-last-raw', 'last_token', false]] as const) {
    t.test(`${model}: the same vectors as transformers.js (pooling ${pooling}, normalize ${normalize})`, async (t) => {
      const extractor = await pipeline('feature-extraction', model, { dtype: 'fp32' });
      const ours = await embed(model, TEXTS);
      t.equal(ours.data.length, TEXTS.length);
      t.equal(ours.data[0].embedding.length, TINY_BERT.hidden, 'the hidden size');
      // transformers.js pads a batch on the right, and its last_token pooling takes the last
      // column whatever the padding: it is called one text at a time there, and batched for the others.
      const theirs: number[][] = pooling === 'last_token'
        ? await Promise.all(TEXTS.map(async (x) => Array.from((await extractor(x, { pooling, normalize })).data as Float32Array)))
        : (await extractor(TEXTS, { pooling, normalize })).tolist();
      TEXTS.forEach((text, i) => {
        const c = cosine(ours.data[i].embedding, theirs[i]);
        t.ok(c >= 0.99999, `"${text}": cosine ${c}`);
        const worst = Math.max(...theirs[i].map((x, k) => Math.abs(x - ours.data[i].embedding[k])));
        t.ok(worst < 1e-4, `"${text}": largest difference ${worst}`);
      });
      const tokens = TEXTS.reduce((s, x) => s + (extractor.tokenizer(x).input_ids.dims[1] as number), 0);
      t.equal(ours.usage.prompt_tokens, tokens, 'usage counts the tokens the tokenizer made, [CLS] and [SEP] included');
      // The check means something: the texts' vectors are far apart.
      t.ok(cosine(ours.data[0].embedding, ours.data[1].embedding) < 0.99, 'different texts, clearly different vectors');
      const norm = Math.hypot(...ours.data[0].embedding);
      t.ok(normalize ? Math.abs(norm - 1) < 1e-5 : Math.abs(norm - 1) > 1e-3, `norm ${norm}`);
      await extractor.dispose();
    });
  }

  t.test('one padded batch gives every input the vector it has alone', async (t) => {
    for (const model of ['tiny-mean', 'tiny-cls', 'tiny-last-raw']) {
      const batch = await embed(model, TEXTS);
      for (let i = 0; i < TEXTS.length; i++) {
        const alone = (await embed(model, TEXTS[i])).data[0].embedding as number[];
        const worst = Math.max(...alone.map((x, k) => Math.abs(x - batch.data[i].embedding[k])));
        t.ok(worst < 1e-5 && cosine(alone, batch.data[i].embedding) >= 0.99999, `${model} "${TEXTS[i]}" in a padded batch of ${TEXTS.length}: largest difference ${worst}`);
      }
    }
  });

  t.test("crucible.json's pooling overrides the folder's", async (t) => {
    const dir = join(models, 'tiny-mean-as-cls');
    cpSync(join(models, 'tiny-mean'), dir, { recursive: true });
    writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ id: 'tiny-mean-as-cls:1', pooling: 'cls' }));
    const cls = await embed('tiny-cls', TEXTS);
    const over = await embed('tiny-mean-as-cls', TEXTS);
    TEXTS.forEach((_, i) => t.ok(cosine(cls.data[i].embedding, over.data[i].embedding) >= 0.99999, `input ${i}: CLS pooling of the same weights`));
  });

  t.test('a graph that pools itself (sentence_embedding) is used as it is, and agrees with the pooling done here', async (t) => {
    // No Normalize module, yet the graph's output is normalized: unit vectors show it was the graph's output that was read.
    writeTinyEncoder(join(models, 'tiny-pooled'), { pooling: 'mean', sentenceEmbedding: true, normalize: false });
    const pooled = await embed('tiny-pooled', TEXTS);
    const mean = await embed('tiny-mean', TEXTS);
    TEXTS.forEach((_, i) => {
      t.ok(cosine(pooled.data[i].embedding, mean.data[i].embedding) >= 0.99999, `input ${i}: the mean`);
      t.ok(Math.abs(Math.hypot(...pooled.data[i].embedding) - 1) < 1e-5, `input ${i}: as the graph normalized it`);
    });
    const dir = join(models, 'tiny-pooled-cls');
    cpSync(join(models, 'tiny-pooled'), dir, { recursive: true });
    writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ id: 'tiny-pooled-cls:1', pooling: 'cls' }));
    const cls = await embed('tiny-cls', TEXTS);
    const over = await embed('tiny-pooled-cls', TEXTS);
    TEXTS.forEach((_, i) => t.ok(cosine(cls.data[i].embedding, over.data[i].embedding) >= 0.99999, `input ${i}: crucible.json's cls pools last_hidden_state instead`));
  });

  t.test('the openai client, base64 by default; the float form validates against the OpenAPI document', async (t) => {
    const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const viaClient = await client.embeddings.create({ model: 'tiny-mean', input: TEXTS.slice(0, 3) });
    const floats = await embed('tiny-mean', TEXTS.slice(0, 3));
    for (let i = 0; i < 3; i++) {
      t.ok(viaClient.data[i].embedding.every((x, k) => Math.abs(x - floats.data[i].embedding[k]) < 1e-7), `base64 ${i} decodes to the float vector`);
    }
    const raw = await post('/v1/embeddings', { model: 'tiny-mean', input: 'hello' });
    t.ok(Array.isArray(raw.body.data[0].embedding), 'without encoding_format, floats (as OpenAI answers)');
    const valid = openaiSchema('CreateEmbeddingResponse');
    t.ok(valid(floats), `a valid CreateEmbeddingResponse ${JSON.stringify(valid.errors ?? [])}`);
  });

  t.test('dimensions: refused unless the model declares Matryoshka vectors, then truncated and re-normalized', async (t) => {
    const refused = await post('/v1/embeddings', { model: 'tiny-mean', input: 'a cat', dimensions: 8 });
    t.equal(refused.status, 400);
    t.match(refused.body, { error: { code: 'unsupported_parameter', param: 'dimensions' } });
    const dir = join(models, 'tiny-mrl');
    cpSync(join(models, 'tiny-mean'), dir, { recursive: true });
    writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ id: 'tiny-mrl:1', matryoshka: true }));
    const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const full = (await client.embeddings.create({ model: 'tiny-mrl', input: 'a cat' })).data[0].embedding;
    const cut = (await client.embeddings.create({ model: 'tiny-mrl', input: 'a cat', dimensions: 8 })).data[0].embedding;
    t.equal(cut.length, 8);
    t.ok(Math.abs(Math.hypot(...cut) - 1) < 1e-5, 'unit length');
    t.ok(cosine(cut, full.slice(0, 8)) > 0.99999, 'the first 8 dimensions of the full vector');
  });

  t.test('too long, empty, or a chat request: a clear 400', async (t) => {
    const limit = TINY_BERT.maxPositions;
    const long = 'cat '.repeat(limit - 1); // + [CLS] and [SEP]: one over
    const over = await post('/v1/embeddings', { model: 'tiny-mean', input: ['a dog', long] });
    t.equal(over.status, 400);
    t.match(over.body, { error: { code: 'context_length_exceeded', param: 'input[1]', message: new RegExp(`${limit + 1} tokens; this model reads at most ${limit}`) } });
    const fits = await post('/v1/embeddings', { model: 'tiny-mean', input: 'cat '.repeat(limit - 2), encoding_format: 'float' });
    t.equal(fits.status, 200, 'exactly the limit is fine');
    t.equal(fits.body.usage.prompt_tokens, limit);
    for (const input of ['', ['a', '']]) {
      const empty = await post('/v1/embeddings', { model: 'tiny-mean', input });
      t.equal(empty.status, 400);
      t.match(empty.body, { error: { code: 'invalid_request' } });
    }
    const oov = await post('/v1/embeddings', { model: 'tiny-mean', input: [[2, 100000, 3]] });
    t.equal(oov.status, 400, 'a token id outside the vocabulary');
    const chat = await post('/v1/chat/completions', { model: 'tiny-mean', messages: [{ role: 'user', content: 'hi' }] });
    t.equal(chat.status, 400);
    t.match(chat.body, { error: { param: 'model', message: /tiny-mean' is an embedding model; use \/v1\/embeddings/ } });
  });

  t.test('a folder whose modules.json needs a layer the graph lacks does not load, and says why', async (t) => {
    const dir = join(models, 'tiny-dense');
    cpSync(join(models, 'tiny-mean'), dir, { recursive: true });
    const modules = JSON.parse(readFileSync(join(dir, 'modules.json'), 'utf8'));
    modules.splice(2, 0, { idx: 2, name: '2', path: '2_Dense', type: 'sentence_transformers.models.Dense' });
    writeFileSync(join(dir, 'modules.json'), JSON.stringify(modules));
    const r = await post('/v1/embeddings', { model: 'tiny-dense', input: 'a cat' });
    t.ok(r.status >= 400);
    t.match(r.body, { error: { message: /Dense/ } });
  });
});
