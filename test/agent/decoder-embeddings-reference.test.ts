import t from 'tap';
import OpenAI from 'openai';
import { pipeline, env } from '@huggingface/transformers';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeGenaiModel } from '../../workers/optimize/write-genai.js';
import { writeHiddenStatesReference } from '../helpers/hidden-states-reference.js';
import { STORIES, startTestService, tempHome } from '../helpers/service.js';

/*
 * stories260K's real hidden states, Foundry's way (the last position's final hidden state,
 * L2-normalized) and by the mean, checked against transformers.js' feature-extraction pipeline.
 *
 * transformers.js' feature extraction reads a graph output named `last_hidden_state`; stories260K's
 * export has only logits. So the reference folder is stories260K's own config and tokenizer with,
 * as onnx/model.onnx, the graph Crucible builds for embeddings (workers/engine/embedder.ts: the
 * input of the output layer exposed as an extra output) and that output renamed
 * `last_hidden_state` by an Identity node. transformers.js then runs it as a LlamaModel: its own
 * feeds (empty past, its own position ids), its own pooling and normalization. What it shares
 * with Crucible is the ONNX file and ONNX Runtime.
 *
 * Then Foundry's qwen3-embedding layout: the same weights written the way ONNX Runtime GenAI's
 * model builder writes an embedding model (`exclude_lm_head`: GroupQueryAttention graph with a
 * `hidden_states` output and no logits, genai_config.json naming it), which loads as an embedding
 * model and must give the same vectors.
 */

const TEXTS = ['Once upon a time', 'The cat sat on the mat.', 'Lily and Tom went to the park to play with a big red ball.', 'One day'];
const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
};

t.test("stories260K's hidden states against transformers.js, and Foundry's embedding layout of the same weights", async (t) => {
  const svc = await startTestService(t);
  const models = svc.config.modelsDir;
  const refRoot = tempHome('cru-ref-');
  writeHiddenStatesReference(join(refRoot, 'stories-hidden'));
  env.allowRemoteModels = false;
  env.localModelPath = `${refRoot}/`;
  const extractor = await pipeline('feature-extraction', 'stories-hidden', { dtype: 'fp32' });
  t.teardown(async () => {
    await extractor.dispose();
    rmSync(refRoot, { recursive: true, force: true });
  });
  const post = async (body: unknown) => {
    const res = await fetch(`${svc.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() as any };
  };
  // transformers.js tokenizes the text (BOS + tokens) and pools what it is given; Crucible is sent
  // the same ids, so both read exactly the same tokens (a text sent to Crucible also gets the end token).
  const ids = TEXTS.map((x) => Array.from(extractor.tokenizer(x).input_ids.data as BigInt64Array, Number));

  const mean = join(models, 'stories-mean');
  cpSync(STORIES, mean, { recursive: true });
  writeFileSync(join(mean, 'crucible.json'), JSON.stringify({ id: 'stories-mean:1', pooling: 'mean' }));

  for (const [model, pooling] of [['stories260k', 'last_token'], ['stories-mean', 'mean']] as const) {
    t.test(`${model}: pooling ${pooling}, normalized`, async (t) => {
      const ours = await post({ model, input: ids, encoding_format: 'float' });
      t.equal(ours.status, 200);
      // One text at a time: transformers.js' last_token pooling ignores padding.
      for (let i = 0; i < TEXTS.length; i++) {
        const theirs = Array.from((await extractor(TEXTS[i], { pooling, normalize: true })).data as Float32Array);
        const c = cosine(ours.body.data[i].embedding, theirs);
        t.ok(c >= 0.99999, `"${TEXTS[i]}": cosine ${c}`);
      }
      t.ok(cosine(ours.body.data[0].embedding, ours.body.data[2].embedding) < 0.999, 'different texts, different vectors');
    });
  }

  t.test('a text is its tokens with the end token appended', async (t) => {
    const text = await post({ model: 'stories260k', input: TEXTS[1], encoding_format: 'float' });
    const tokens = await post({ model: 'stories260k', input: [[...ids[1], 2]], encoding_format: 'float' });
    t.ok(cosine(text.body.data[0].embedding, tokens.body.data[0].embedding) > 0.999999);
    t.equal(text.body.usage.prompt_tokens, ids[1].length + 1);
  });

  t.test("Foundry's qwen3-embedding layout (GenAI graph with hidden_states, no logits) loads as an embedding model", async (t) => {
    writeGenaiModel(STORIES, join(models, 'stories-embedding'), { int4: null, ioType: 'float32', excludeLmHead: true, manifest: { id: 'stories-embedding:1' } });
    const rows = (await (await fetch(`${svc.url}/openai/ps`)).json()) as { id: string; task: string }[];
    t.equal(rows.find((r) => r.id === 'stories-embedding:1')?.task, 'embeddings');
    const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const genai = await client.embeddings.create({ model: 'stories-embedding', input: TEXTS });
    const plain = await client.embeddings.create({ model: 'stories260k', input: TEXTS });
    for (let i = 0; i < TEXTS.length; i++) {
      const c = cosine(genai.data[i].embedding, plain.data[i].embedding);
      t.ok(c >= 0.99999, `"${TEXTS[i]}": the GenAI embedding layout gives the plain export's vector (cosine ${c})`);
      const alone = (await client.embeddings.create({ model: 'stories-embedding', input: TEXTS[i] })).data[0].embedding;
      t.ok(cosine(alone, genai.data[i].embedding) >= 0.99999, `"${TEXTS[i]}": batched (right-padded for GroupQueryAttention) equals alone`);
    }
    t.equal(genai.usage.prompt_tokens, plain.usage.prompt_tokens);
    const chat = await fetch(`${svc.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'stories-embedding', messages: [{ role: 'user', content: 'hi' }] }),
    });
    t.equal(chat.status, 400, 'no chat on an embedding model');
    t.match(await chat.json(), { error: { message: /embedding model; use \/v1\/embeddings/ } });
  });
});
