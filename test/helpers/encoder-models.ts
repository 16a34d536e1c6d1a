import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder, onnx, valueInfo } from '../../workers/optimize/onnx-graph.js';
import { mulberry32 } from './random.js';

const F = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;

/** The tiny encoder's shape: BERT's architecture at a size a test builds in milliseconds. */
export const TINY_BERT = { hidden: 32, heads: 4, layers: 2, intermediate: 64, maxPositions: 64, typeVocab: 2 } as const;

const WORDS = ['the', 'a', 'cat', 'dog', 'sat', 'on', 'mat', 'once', 'upon', 'time', 'there', 'was', 'little', 'girl', 'boy', 'park',
  'play', 'ran', 'big', 'red', 'ball', 'sun', 'tree', 'bird', 'and', 'to', 'in', 'of', 'is', 'it', 'he', 'she', 'they', 'with',
  'went', 'day', 'happy', 'sad', 'home', 'lily', 'tom'];
const LETTERS = 'abcdefghijklmnopqrstuvwxyz'.split('');

/** WordPiece vocabulary: BERT's special tokens, punctuation, letters (so every word spells out), words, suffixes. */
export function tinyVocab(): string[] {
  return ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', ',', '!', '?', "'", ...LETTERS, ...LETTERS.map((l) => `##${l}`),
    ...WORDS, '##s', '##ed', '##ing', '##ly', '##er'];
}

/** A Hugging Face `tokenizer.json` for a lower-casing BERT WordPiece tokenizer with [CLS] ... [SEP]. */
export function wordPieceTokenizer(vocab: string[]): object {
  const id = (t: string) => vocab.indexOf(t);
  const special = (content: string) => ({ id: id(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map(special),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
  };
}

/** Deterministic uniform numbers in [-1, 1), so every build writes the same weights. */
function random(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() * 2 - 1;
}

/**
 * The ONNX graph of a BERT encoder as Optimum exports it for feature extraction: `input_ids`,
 * `attention_mask`, `token_type_ids` -> `last_hidden_state`. Word + position + token-type
 * embeddings, LayerNorm, self-attention layers whose padded keys the mask hides (BERT's additive
 * -10000), GELU (erf) feed-forward, post-norm residuals. Weights are random but large enough that
 * different texts give clearly different vectors.
 */
export function tinyBertGraph(vocabSize: number, seed = 20, sentenceEmbedding = false): Uint8Array {
  const { hidden: H, heads, layers, intermediate: FF, maxPositions, typeVocab } = TINY_BERT;
  const hd = H / heads;
  const rnd = random(seed);
  const b = new GraphBuilder();
  const uniform = (n: number, scale: number, offset = 0) => Float32Array.from({ length: n }, () => offset + scale * rnd());
  const f = (name: string, dims: number[], data: Float32Array) => b.weight(name, dims, data);
  const ints = (name: string, vals: number[], dims = [vals.length]) => b.weight(name, dims, BigInt64Array.from(vals.map(BigInt)), I64);
  const scalar = (name: string, v: number) => b.weight(name, [], Float32Array.of(v));
  const linear = (x: string, name: string, inDim: number, outDim: number) => {
    const w = f(`${name}.weight`, [inDim, outDim], uniform(inDim * outDim, Math.sqrt(3 / inDim)));
    const bias = f(`${name}.bias`, [outDim], uniform(outDim, 0.1));
    return b.op('Add', [b.op('MatMul', [x, w])[0], bias])[0];
  };
  const norm = (x: string, name: string) => b.op('LayerNormalization', [x, f(`${name}.weight`, [H], uniform(H, 0.1, 1)), f(`${name}.bias`, [H], uniform(H, 0.1))], { axis: -1, epsilon: 1e-12 })[0];

  const [words] = b.op('Gather', [f('embeddings.word_embeddings.weight', [vocabSize, H], uniform(vocabSize * H, 1)), 'input_ids']);
  const [shape] = b.op('Shape', ['input_ids']);
  const [seq] = b.op('Gather', [shape, ints('one_index', [1], [])]);
  const [range] = b.op('Range', [ints('zero', [0], []), seq, ints('step', [1], [])]);
  const [positions] = b.op('Gather', [f('embeddings.position_embeddings.weight', [maxPositions, H], uniform(maxPositions * H, 1)), range]);
  const [types] = b.op('Gather', [f('embeddings.token_type_embeddings.weight', [typeVocab, H], uniform(typeVocab * H, 1)), 'token_type_ids']);
  let x = norm(b.op('Add', [b.op('Add', [words, positions])[0], types])[0], 'embeddings.LayerNorm');

  // [batch, seq] mask -> [batch, 1, 1, seq] additive: 0 where attended, -10000 on padding.
  const [maskF] = b.op('Cast', ['attention_mask'], { to: F });
  const [hidden] = b.op('Mul', [b.op('Sub', [scalar('one', 1), maskF])[0], scalar('mask_value', -10000)]);
  const [mask] = b.op('Unsqueeze', [hidden, ints('mask_axes', [1, 2])]);
  const split = ints('split_heads', [0, 0, heads, hd]);
  const merge = ints('merge_heads', [0, 0, H]);
  for (let i = 0; i < layers; i++) {
    const p = `encoder.layer.${i}`;
    const heads4 = (name: string, perm: number[]) => b.op('Transpose', [b.op('Reshape', [linear(x, `${p}.attention.self.${name}`, H, H), split])[0]], { perm })[0];
    const q = heads4('query', [0, 2, 1, 3]);
    const k = heads4('key', [0, 2, 3, 1]);
    const v = heads4('value', [0, 2, 1, 3]);
    const [scores] = b.op('Add', [b.op('Mul', [b.op('MatMul', [q, k])[0], scalar(`${p}.scale`, 1 / Math.sqrt(hd))])[0], mask]);
    const [probs] = b.op('Softmax', [scores], { axis: -1 });
    const [context] = b.op('Reshape', [b.op('Transpose', [b.op('MatMul', [probs, v])[0]], { perm: [0, 2, 1, 3] })[0], merge]);
    const out = linear(context, `${p}.attention.output.dense`, H, H);
    x = norm(b.op('Add', [out, x])[0], `${p}.attention.output.LayerNorm`);
    const up = linear(x, `${p}.intermediate.dense`, H, FF);
    const [erf] = b.op('Erf', [b.op('Div', [up, scalar(`${p}.sqrt2`, Math.SQRT2)])[0]]);
    const [gelu] = b.op('Mul', [b.op('Mul', [up, b.op('Add', [erf, scalar(`${p}.one`, 1)])[0]])[0], scalar(`${p}.half`, 0.5)]);
    const down = linear(gelu, `${p}.output.dense`, FF, H);
    x = norm(b.op('Add', [down, x])[0], `${p}.output.LayerNorm`);
  }
  b.op('Identity', [x], {}, 1, '', ['last_hidden_state']);
  const io = (name: string) => valueInfo(name, I64, ['batch_size', 'sequence_length']);
  const outputs = [valueInfo('last_hidden_state', F, ['batch_size', 'sequence_length', H])];
  if (sentenceEmbedding) {
    // sentence-transformers' own ONNX export: masked mean over tokens, then L2 normalization, in the graph.
    const [m3] = b.op('Unsqueeze', [maskF, ints('last_axis', [2])]);
    const [sum] = b.op('ReduceSum', [b.op('Mul', [x, m3])[0], ints('seq_axis', [1])], { keepdims: 0 });
    const [count] = b.op('ReduceSum', [m3, ints('seq_axis_count', [1])], { keepdims: 0 });
    const [mean] = b.op('Div', [sum, count]);
    b.op('LpNormalization', [mean], { axis: -1, p: 2 }, 1, '', ['sentence_embedding']);
    outputs.push(valueInfo('sentence_embedding', F, ['batch_size', H]));
  }
  return b.encode([io('input_ids'), io('attention_mask'), io('token_type_ids')], outputs, 'crucible-tiny-bert');
}

export type EncoderPooling = 'mean' | 'cls' | 'lasttoken';

/**
 * Writes a sentence-transformers model folder around the tiny encoder: `config.json`,
 * `tokenizer.json` (+ `tokenizer_config.json`), `modules.json` (Transformer, Pooling, Normalize),
 * `1_Pooling/config.json`, `sentence_bert_config.json` and `onnx/model.onnx`. The same seed gives
 * the same weights, so variants differ only in pooling. `sentenceEmbedding` adds the pooled,
 * normalized `sentence_embedding` output sentence-transformers' own ONNX export has.
 */
export function writeTinyEncoder(dir: string, opts: { pooling: EncoderPooling; normalize?: boolean; manifest?: Record<string, unknown>; seed?: number; sentenceEmbedding?: boolean }): string {
  const vocab = tinyVocab();
  const { hidden, heads, layers, intermediate, maxPositions, typeVocab } = TINY_BERT;
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  mkdirSync(join(dir, '1_Pooling'), { recursive: true });
  const json = (file: string, v: unknown) => writeFileSync(join(dir, file), JSON.stringify(v, null, 2));
  writeFileSync(join(dir, 'onnx', 'model.onnx'), tinyBertGraph(vocab.length, opts.seed, opts.sentenceEmbedding));
  json('config.json', {
    architectures: ['BertModel'], model_type: 'bert', hidden_size: hidden, num_attention_heads: heads, num_hidden_layers: layers,
    intermediate_size: intermediate, max_position_embeddings: maxPositions, type_vocab_size: typeVocab, vocab_size: vocab.length,
    hidden_act: 'gelu', layer_norm_eps: 1e-12, pad_token_id: 0,
  });
  json('tokenizer.json', wordPieceTokenizer(vocab));
  json('tokenizer_config.json', {
    tokenizer_class: 'BertTokenizer', do_lower_case: true, model_max_length: maxPositions,
    cls_token: '[CLS]', sep_token: '[SEP]', pad_token: '[PAD]', unk_token: '[UNK]', mask_token: '[MASK]',
  });
  json('special_tokens_map.json', { cls_token: '[CLS]', sep_token: '[SEP]', pad_token: '[PAD]', unk_token: '[UNK]', mask_token: '[MASK]' });
  json('sentence_bert_config.json', { max_seq_length: maxPositions, do_lower_case: false });
  const modules = [
    { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
  ];
  if (opts.normalize !== false) modules.push({ idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' });
  json('modules.json', modules);
  json(join('1_Pooling', 'config.json'), {
    word_embedding_dimension: hidden, pooling_mode_cls_token: opts.pooling === 'cls', pooling_mode_mean_tokens: opts.pooling === 'mean',
    pooling_mode_max_tokens: false, pooling_mode_mean_sqrt_len_tokens: false, pooling_mode_weightedmean_tokens: false,
    pooling_mode_lasttoken: opts.pooling === 'lasttoken', include_prompt: true,
  });
  if (opts.manifest) json('crucible.json', opts.manifest);
  return dir;
}
