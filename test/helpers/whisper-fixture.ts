/**
 * A tiny Whisper-architecture model with deterministic random weights, written by the repo in both
 * layouts that ship (see whisper-graphs.ts): Hugging Face / transformers.js and ONNX Runtime GenAI
 * (Foundry). One set of weights feeds both, so both must give the same tokens.
 *
 * Random weights give noise text, and left alone a random decoder rarely puts out timestamps in a
 * useful order or ever ends. Three deterministic "steering" directions in the residual stream make
 * the noise exercise the whole timestamp machinery (documented in the README):
 * - a clock: the decoder's learned positions carry (cos, sin) of the position in dimensions 0-1,
 *   and timestamp token k carries (cos, sin) of an angle growing with k, so the preferred timestamp
 *   rises with the decoding position (segments move forward in time);
 * - a pulse: dimension 2 of the positions swings with a period of a few tokens and every timestamp
 *   token reads it, so the timestamp mass beats the best text token every few tokens (text and
 *   timestamps alternate);
 * - a ramp: dimension 3 grows with the position and <|endoftext|> reads it, so a window ends.
 * Layers never write to those dimensions (their output projections' columns are zero there), so
 * the steering reaches the logits untouched while the other dimensions carry the audio's noise.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from './random.js';
import { buildVocab, LANGUAGES, tokenizerJson, type WhisperVocab } from './whisper-vocab.js';
import { genaiDecoder, genaiEncoder, hfDecoderMerged, hfEncoder, type Weights, type WhisperDims } from './whisper-graphs.js';

export interface SteeringOptions {
  seed: number;
  clock: number;
  pulse: number;
  ramp: number;
  noise: number;
  /** Spread of the token embeddings' noise dimensions. */
  tokens: number;
  /** Size of the positions' steering components. */
  positions: number;
  /** Extra gain of the cross-attention's output: how much the audio moves the text. */
  cross: number;
  /** Timestamp steps (20 ms) the clock advances per decoder position. */
  tick: number;
  /** Decoder positions over which the end-of-text ramp rises by one unit. */
  rampLength: number;
}

export const DEFAULT_STEERING: SteeringOptions = { seed: 20, clock: 15, pulse: 10, ramp: 15, noise: 3, tokens: 0.5, positions: 8, cross: 3, tick: 12, rampLength: 40 };

export function whisperWeights(dims: WhisperDims, v: WhisperVocab, o: SteeringOptions = DEFAULT_STEERING): Weights {
  const rand = mulberry32(o.seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const w: Weights = new Map();
  const put = (name: string, shape: number[], fill: (i: number) => number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    w.set(name, { dims: shape, data: Float32Array.from({ length: n }, (_, i) => fill(i)) });
  };
  const randn = (name: string, shape: number[], std: number) => put(name, shape, () => gauss() * std);
  const { d, mels, ffn } = dims;
  const STEER = 4;
  /** A [in, out] matrix whose outputs never touch the steering dimensions. */
  const proj = (name: string, inDim: number, outDim: number, steerFree: boolean, gain = 1) => {
    const std = (steerFree ? o.noise * gain : 1) / Math.sqrt(inDim);
    put(`${name}.weight`, [inDim, outDim], (i) => (steerFree && i % outDim < STEER ? 0 : gauss() * std));
    put(`${name}.bias`, [outDim], (i) => (steerFree && i < STEER ? 0 : gauss() * 0.02));
  };
  const ln = (name: string) => {
    put(`${name}.weight`, [d], () => 1);
    put(`${name}.bias`, [d], () => 0);
  };
  randn('encoder.conv1.weight', [d, mels, 3], 1 / Math.sqrt(mels * 3));
  randn('encoder.conv1.bias', [d], 0.02);
  randn('encoder.conv2.weight', [d, d, 3], 1 / Math.sqrt(d * 3));
  randn('encoder.conv2.bias', [d], 0.02);
  // Whisper's sinusoidal encoder positions.
  const half = d / 2;
  const inc = Math.log(10000) / (half - 1);
  put('encoder.embed_positions.weight', [dims.audioCtx, d], (i) => {
    const t = Math.floor(i / d);
    const c = i % d;
    const f = Math.exp(-inc * (c % half));
    return c < half ? Math.sin(t * f) : Math.cos(t * f);
  });
  const attn = (p: string, steerFree: boolean, gain = 1) => {
    proj(`${p}.q_proj`, d, d, false);
    proj(`${p}.k_proj`, d, d, false);
    w.delete(`${p}.k_proj.bias`);
    proj(`${p}.v_proj`, d, d, false);
    proj(`${p}.out_proj`, d, d, steerFree, gain);
  };
  for (let l = 0; l < dims.encoderLayers; l++) {
    const p = `encoder.layers.${l}`;
    attn(`${p}.self_attn`, false);
    ln(`${p}.self_attn_layer_norm`);
    ln(`${p}.final_layer_norm`);
    proj(`${p}.fc1`, d, ffn, false);
    proj(`${p}.fc2`, ffn, d, false);
  }
  ln('encoder.layer_norm');
  for (let l = 0; l < dims.decoderLayers; l++) {
    const p = `decoder.layers.${l}`;
    attn(`${p}.self_attn`, true);
    attn(`${p}.encoder_attn`, true, o.cross);
    ln(`${p}.self_attn_layer_norm`);
    ln(`${p}.encoder_attn_layer_norm`);
    ln(`${p}.final_layer_norm`);
    proj(`${p}.fc1`, d, ffn, false);
    proj(`${p}.fc2`, ffn, d, true);
  }
  ln('decoder.layer_norm');
  // Token embeddings: noise outside the steering dimensions; the steering readers inside them.
  const emb = new Float32Array(v.size * d);
  // Timestamp tokens read only the clock and the pulse.
  for (let t = 0; t < v.timestampBegin; t++) for (let c = STEER; c < d; c++) emb[t * d + c] = gauss() * o.tokens;
  const tsAngle = (k: number) => (k / 1500) * Math.PI * 0.9;
  for (let k = 0; k <= 1500; k++) {
    const t = v.timestampBegin + k;
    emb[t * d] = Math.cos(tsAngle(k)) * o.clock;
    emb[t * d + 1] = Math.sin(tsAngle(k)) * o.clock;
    emb[t * d + 2] = o.pulse;
  }
  emb[v.eot * d + 3] = o.ramp;
  w.set('decoder.embed_tokens.weight', { dims: [v.size, d], data: emb });
  // Positions: the clock advances `tick` timestamp steps (a quarter second by default) per token.
  const pos = new Float32Array(dims.textCtx * d);
  for (let i = 0; i < dims.textCtx; i++) {
    const a = tsAngle(Math.min(1500, i * o.tick));
    pos[i * d] = Math.cos(a) * o.positions;
    pos[i * d + 1] = Math.sin(a) * o.positions;
    pos[i * d + 2] = o.positions * Math.cos((2 * Math.PI * i) / 5);
    pos[i * d + 3] = o.positions * ((i / o.rampLength) - 0.75);
    for (let c = STEER; c < d; c++) pos[i * d + c] = gauss() * 0.1;
  }
  w.set('decoder.embed_positions.weight', { dims: [dims.textCtx, d], data: pos });
  return w;
}

export const TINY_DIMS = (vocab: number): WhisperDims => ({
  mels: 80, d: 64, heads: 4, ffn: 128, encoderLayers: 2, decoderLayers: 2, audioCtx: 1500, textCtx: 448, vocab,
});

function tokenizerFiles(dir: string, v: WhisperVocab): void {
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(v)));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({
    tokenizer_class: 'WhisperTokenizer', model_max_length: 1024, errors: 'replace', add_prefix_space: false,
    bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: '<|endoftext|>',
    clean_up_tokenization_spaces: true,
  }, null, 2));
}

function generationConfig(v: WhisperVocab): Record<string, unknown> {
  return {
    decoder_start_token_id: v.sot, bos_token_id: v.eot, eos_token_id: v.eot, pad_token_id: v.eot,
    max_length: 448, max_initial_timestamp_index: 50, no_timestamps_token_id: v.noTimestamps,
    prev_sot_token_id: v.startOfPrev, is_multilingual: true,
    lang_to_id: Object.fromEntries(LANGUAGES.map((l) => [`<|${l}|>`, v.languages[l]])),
    task_to_id: { transcribe: v.transcribe, translate: v.translate },
    suppress_tokens: v.suppress, begin_suppress_tokens: [v.spaceToken, v.eot],
    forced_decoder_ids: [[1, null], [2, v.transcribe]],
    return_timestamps: false,
  };
}

export interface WhisperFixture {
  hf: string;
  genai: string;
  vocab: WhisperVocab;
  dims: WhisperDims;
}

/** Writes `whisper-tiny-hf` and `whisper-tiny-genai` under `root` (a models folder). */
export function writeWhisperFixture(root: string, steering: SteeringOptions = DEFAULT_STEERING): WhisperFixture {
  const v = buildVocab();
  const dims = TINY_DIMS(v.size);
  const w = whisperWeights(dims, v, steering);
  const hf = join(root, 'whisper-tiny-hf');
  const genai = join(root, 'whisper-tiny-genai');
  for (const dir of [hf, genai]) rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(hf, 'onnx'), { recursive: true });
  writeFileSync(join(hf, 'onnx', 'encoder_model.onnx'), hfEncoder(w, dims));
  writeFileSync(join(hf, 'onnx', 'decoder_model_merged.onnx'), hfDecoderMerged(w, dims));
  writeFileSync(join(hf, 'config.json'), JSON.stringify({
    _name_or_path: 'crucible/whisper-tiny-fixture', architectures: ['WhisperForConditionalGeneration'], model_type: 'whisper',
    d_model: dims.d, encoder_layers: dims.encoderLayers, decoder_layers: dims.decoderLayers,
    encoder_attention_heads: dims.heads, decoder_attention_heads: dims.heads, encoder_ffn_dim: dims.ffn, decoder_ffn_dim: dims.ffn,
    num_mel_bins: dims.mels, max_source_positions: dims.audioCtx, max_target_positions: dims.textCtx, vocab_size: v.size,
    decoder_start_token_id: v.sot, eos_token_id: v.eot, bos_token_id: v.eot, pad_token_id: v.eot, is_encoder_decoder: true,
    activation_function: 'gelu', scale_embedding: false, use_cache: true, begin_suppress_tokens: [v.spaceToken, v.eot],
    suppress_tokens: v.suppress, median_filter_width: 7,
  }, null, 2));
  writeFileSync(join(hf, 'generation_config.json'), JSON.stringify(generationConfig(v), null, 2));
  writeFileSync(join(hf, 'preprocessor_config.json'), JSON.stringify({
    chunk_length: 30, feature_extractor_type: 'WhisperFeatureExtractor', feature_size: dims.mels, hop_length: 160,
    n_fft: 400, n_samples: 480000, nb_max_frames: 3000, padding_side: 'right', padding_value: 0.0,
    processor_class: 'WhisperProcessor', return_attention_mask: false, sampling_rate: 16000,
  }, null, 2));
  tokenizerFiles(hf, v);
  writeFileSync(join(hf, 'crucible.json'), JSON.stringify({ id: 'whisper-tiny-hf:1', alias: 'whisper-tiny-hf' }, null, 2));

  mkdirSync(genai, { recursive: true });
  writeFileSync(join(genai, 'encoder.onnx'), genaiEncoder(w, dims));
  writeFileSync(join(genai, 'decoder.onnx'), genaiDecoder(w, dims));
  const hd = dims.d / dims.heads;
  writeFileSync(join(genai, 'genai_config.json'), JSON.stringify({
    model: {
      type: 'whisper', bos_token_id: v.sot, eos_token_id: v.eot, pad_token_id: v.eot, decoder_start_token_id: v.sot,
      context_length: dims.textCtx, vocab_size: v.size,
      encoder: {
        filename: 'encoder.onnx', head_size: hd, hidden_size: dims.d, num_attention_heads: dims.heads, num_hidden_layers: dims.encoderLayers,
        inputs: { audio_features: 'audio_features' },
        outputs: { encoder_hidden_states: 'encoder_hidden_states', cross_present_key_names: 'present_key_cross_%d', cross_present_value_names: 'present_value_cross_%d' },
      },
      decoder: {
        filename: 'decoder.onnx', head_size: hd, hidden_size: dims.d, num_attention_heads: dims.heads, num_key_value_heads: dims.heads,
        num_hidden_layers: dims.decoderLayers,
        inputs: {
          input_ids: 'input_ids', past_key_names: 'past_key_self_%d', past_value_names: 'past_value_self_%d',
          cross_past_key_names: 'past_key_cross_%d', cross_past_value_names: 'past_value_cross_%d',
        },
        outputs: { logits: 'logits', present_key_names: 'present_key_self_%d', present_value_names: 'present_value_self_%d' },
      },
    },
    search: { do_sample: false, max_length: dims.textCtx, num_beams: 1, past_present_share_buffer: false },
  }, null, 2));
  writeFileSync(join(genai, 'audio_processor_config.json'), JSON.stringify({
    feature_extraction: {
      sequence: [
        { operation: { name: 'audio_decoder', type: 'AudioDecoder' } },
        { operation: { name: 'STFT', type: 'STFTNorm', attrs: { n_fft: 400, frame_length: 400, hop_length: 160 } } },
        { operation: { name: 'log_mel_spectrogram', type: 'LogMelSpectrum', attrs: { chunk_size: 30, hop_length: 160, n_fft: 400, n_mel: dims.mels } } },
      ],
    },
  }, null, 2));
  tokenizerFiles(genai, v);
  // The same generation settings (suppressed tokens, max_length) as the Hugging Face folder; without
  // the file the worker falls back to OpenAI's defaults.
  writeFileSync(join(genai, 'generation_config.json'), JSON.stringify(generationConfig(v), null, 2));
  writeFileSync(join(genai, 'crucible.json'), JSON.stringify({ id: 'whisper-tiny-genai:1', alias: 'whisper-tiny-genai' }, null, 2));
  return { hf, genai, vocab: v, dims };
}
