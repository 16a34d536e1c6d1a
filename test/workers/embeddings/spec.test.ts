import t from 'tap';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeGenaiModel } from '../../../workers/optimize/write-genai.js';
import { detectEmbeddingModel, readEncoderSpec } from '../../../workers/embeddings/spec.js';
import { writeTinyEncoder } from '../../helpers/encoder-models.js';
import { STORIES, tempHome } from '../../helpers/service.js';

t.test('which folders are embedding models, by configuration alone', async (t) => {
  const root = tempHome('cru-spec-');
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const st = writeTinyEncoder(join(root, 'st'), { pooling: 'mean' });
  t.equal(detectEmbeddingModel(st), 'encoder', 'sentence-transformers layout');

  const bare = join(root, 'bare');
  cpSync(st, bare, { recursive: true });
  rmSync(join(bare, 'modules.json'));
  rmSync(join(bare, '1_Pooling'), { recursive: true });
  t.equal(detectEmbeddingModel(bare), 'encoder', 'a plain Hugging Face BERT export, by model_type');
  const spec = readEncoderSpec(bare);
  t.same([spec.pooling, spec.normalize, spec.maxTokens], ['mean', false, 64], "transformers' defaults: mean, not normalized");

  const mlm = join(root, 'mlm');
  cpSync(bare, mlm, { recursive: true });
  const config = JSON.parse(readFileSync(join(mlm, 'config.json'), 'utf8'));
  writeFileSync(join(mlm, 'config.json'), JSON.stringify({ ...config, architectures: ['BertForMaskedLM'] }));
  t.equal(detectEmbeddingModel(mlm), null, 'a masked-LM head is not a feature extractor');

  t.equal(detectEmbeddingModel(STORIES), null, 'a chat model (GenAI config with logits)');
  const hf = join(root, 'stories-hf');
  cpSync(STORIES, hf, { recursive: true });
  rmSync(join(hf, 'genai_config.json'));
  t.equal(detectEmbeddingModel(hf), null, 'a chat model (llama config.json)');
  const genai = writeGenaiModel(STORIES, join(root, 'emb'), { int4: null, ioType: 'float32', excludeLmHead: true, manifest: { id: 'emb' } }).dir;
  t.equal(detectEmbeddingModel(genai), 'genai-decoder', "Foundry's embedding layout");
  t.equal(detectEmbeddingModel(join(root, 'nothing')), null);
});

t.test("1_Pooling/config.json's modes, crucible.json's override and the limits", async (t) => {
  const root = tempHome('cru-spec-');
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = writeTinyEncoder(join(root, 'cls'), { pooling: 'cls' });
  t.match(readEncoderSpec(dir), { pooling: 'cls', normalize: true, poolingOverridden: false });
  t.match(readEncoderSpec(dir, 'last'), { pooling: 'last', poolingOverridden: true });
  t.match(readEncoderSpec(writeTinyEncoder(join(root, 'last'), { pooling: 'lasttoken' })), { pooling: 'last' });
  const pool = join(dir, '1_Pooling', 'config.json');
  const c = JSON.parse(readFileSync(pool, 'utf8'));
  writeFileSync(pool, JSON.stringify({ ...c, pooling_mode_cls_token: false, pooling_mode_max_tokens: true }));
  t.throws(() => readEncoderSpec(dir), { code: 'model_load_failed', message: /pooling_mode_max_tokens/ }, 'max pooling is refused, by name');
  writeFileSync(pool, JSON.stringify({ ...c, pooling_mode_mean_tokens: true }));
  t.throws(() => readEncoderSpec(dir), { message: /pooling_mode_cls_token \+ pooling_mode_mean_tokens/ }, 'so is a combination');
  t.match(readEncoderSpec(dir, 'mean'), { pooling: 'mean' }, "unless crucible.json chooses");
  writeFileSync(join(dir, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: 16 }));
  t.equal(readEncoderSpec(dir, 'mean').maxTokens, 16, "sentence_bert_config.json's max_seq_length");
  writeFileSync(join(dir, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: 4096 }));
  t.equal(readEncoderSpec(dir, 'mean').maxTokens, 64, 'never past max_position_embeddings');
});
