import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CrucibleManager, fromBase64 } from '../../../clients/typescript/sdk/index.js';
import { writeTinyEncoder } from '../../helpers/encoder-models.js';
import { startTestService, tempHome } from '../../helpers/service.js';

const TEXTS = ['Once upon a time', 'The cat sat on the mat.'];

t.test('getEmbeddingClient: the same vectors in process, over the pipe and as floats over HTTP', async (t) => {
  const svc = await startTestService(t);
  writeTinyEncoder(join(svc.config.modelsDir, 'tiny-mean'), { pooling: 'mean', manifest: { id: 'tiny-mean:1', alias: 'tiny-mean', matryoshka: true } });
  const floats = (await (await fetch(`${svc.url}/v1/embeddings`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny-mean', input: TEXTS, encoding_format: 'float' }),
  })).json()) as { data: { embedding: number[] }[]; usage: { prompt_tokens: number } };

  const home = tempHome('cru-sdk-emb-');
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  await using embedded = await CrucibleManager.create({ appName: 'emb', home, modelCacheDir: svc.config.modelsDir });
  await using piped = await CrucibleManager.connect({ home: svc.home });
  for (const [name, mgr] of [['embedded', embedded], ['pipe', piped]] as const) {
    const model = await mgr.catalog.getModel('tiny-mean');
    const client = model.getEmbeddingClient();
    const r = await client.embed(TEXTS);
    t.equal(r.vectors.length, 2, name);
    t.equal(r.promptTokens, floats.usage.prompt_tokens, `${name}: usage`);
    r.vectors.forEach((v, i) => t.ok(v.every((x, k) => x === Math.fround(floats.data[i].embedding[k])), `${name}: vector ${i} bit for bit`));
    const one = await client.embedOne(TEXTS[1]);
    t.same(Array.from(one), Array.from(r.vectors[1]), `${name}: embedOne`);
    const cut = await model.getEmbeddingClient({ dimensions: 4 }).embedOne(TEXTS[0]);
    t.equal(cut.length, 4, `${name}: dimensions`);
    await t.rejects(client.embed(''), { code: 'invalid_request' }, `${name}: an empty input is refused`);
  }
  t.same(Array.from(fromBase64(Buffer.from(Float32Array.of(1.5, -2).buffer).toString('base64'))), [1.5, -2]);
});
