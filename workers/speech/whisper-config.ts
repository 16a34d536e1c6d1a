/**
 * What a Whisper folder declares, read from configuration alone, in either layout:
 * - Hugging Face / transformers.js: config.json (`model_type: "whisper"`), onnx/encoder_model.onnx,
 *   onnx/decoder_model_merged.onnx, preprocessor_config.json, generation_config.json;
 * - ONNX Runtime GenAI / Foundry: genai_config.json (`model.type: "whisper"`) naming the encoder and
 *   decoder files and their inputs and outputs, audio_processor_config.json.
 * Special tokens come from tokenizer.json by name, so both layouts agree on them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CrucibleError } from '../../protocol/errors.js';
import type { MelConfig } from './mel.js';

export type WhisperLayout = 'hf' | 'genai';

export interface WhisperTokens {
  eot: number;
  sot: number;
  /** Language code -> token id, in vocabulary order. */
  languages: Map<string, number>;
  transcribe: number | null;
  translate: number | null;
  startOfPrev: number | null;
  noSpeech: number | null;
  noTimestamps: number;
  timestampBegin: number;
}

export interface WhisperConfig {
  layout: WhisperLayout;
  dir: string;
  encoderPath: string;
  decoderPath: string;
  mel: MelConfig;
  heads: number;
  headSize: number;
  layers: number;
  textCtx: number;
  /** Total decoder length (prefix and generated) at which a window stops, as generation_config's max_length. */
  maxLength: number;
  tokens: WhisperTokens;
  suppress: number[];
  beginSuppress: number[];
  /** GenAI's tensor names (templates with %d); the Hugging Face names are fixed. */
  names: { audioFeatures: string; crossKey: string; crossValue: string; inputIds: string; pastKey: string; pastValue: string; pastCrossKey: string; pastCrossValue: string; presentKey: string; presentValue: string; logits: string };
}

const readJson = (path: string): Record<string, any> | null => {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, any>;
  } catch {
    return null;
  }
};

/** Which Whisper layout a folder holds, by its configuration files alone; null for anything else. */
export function detectWhisper(dir: string): WhisperLayout | null {
  const genai = existsSync(join(dir, 'genai_config.json')) ? readJson(join(dir, 'genai_config.json')) : null;
  if (genai?.model?.type === 'whisper') return 'genai';
  if (!existsSync(join(dir, 'config.json'))) return null;
  const cfg = readJson(join(dir, 'config.json'));
  return cfg?.model_type === 'whisper' && existsSync(join(dir, 'onnx', 'encoder_model.onnx')) ? 'hf' : null;
}

function readTokens(dir: string): WhisperTokens {
  const tok = readJson(join(dir, 'tokenizer.json'));
  if (!tok) throw new CrucibleError('model_load_failed', `${dir} has no readable tokenizer.json`);
  const ids = new Map<string, number>();
  for (const a of tok.added_tokens ?? []) ids.set(a.content, a.id);
  for (const [k, v] of Object.entries(tok.model?.vocab ?? {})) if (!ids.has(k)) ids.set(k, v as number);
  const need = (s: string) => {
    const id = ids.get(s);
    if (id === undefined) throw new CrucibleError('model_load_failed', `${dir}/tokenizer.json lacks ${s}`);
    return id;
  };
  const noTimestamps = need('<|notimestamps|>');
  const languages = new Map<string, number>();
  for (const [s, id] of [...ids.entries()].sort((a, b) => a[1] - b[1])) {
    const m = /^<\|([a-z]{2,3}|haw|yue)\|>$/.exec(s);
    if (m && !['nospeech', 'nocaptions'].includes(m[1])) languages.set(m[1], id);
  }
  return {
    eot: need('<|endoftext|>'), sot: need('<|startoftranscript|>'), languages,
    transcribe: ids.get('<|transcribe|>') ?? null, translate: ids.get('<|translate|>') ?? null,
    startOfPrev: ids.get('<|startofprev|>') ?? null, noSpeech: ids.get('<|nospeech|>') ?? ids.get('<|nocaptions|>') ?? null,
    noTimestamps, timestampBegin: noTimestamps + 1,
  };
}

/** OpenAI's default suppression when a folder carries no generation_config.json: the special tokens a transcript never holds. */
const defaultSuppress = (t: WhisperTokens) => [t.sot, t.transcribe, t.translate, t.startOfPrev, t.noSpeech, ...t.languages.values()].filter((x): x is number => x !== null);

function melOf(dir: string, layout: WhisperLayout, mels: number): MelConfig {
  const base: MelConfig = { nMels: mels, nFft: 400, hop: 160, sampleRate: 16000, nSamples: 480000 };
  if (layout === 'hf') {
    const p = readJson(join(dir, 'preprocessor_config.json')) ?? {};
    return { nMels: p.feature_size ?? mels, nFft: p.n_fft ?? 400, hop: p.hop_length ?? 160, sampleRate: p.sampling_rate ?? 16000, nSamples: p.n_samples ?? 480000 };
  }
  const a = readJson(join(dir, 'audio_processor_config.json'));
  for (const step of a?.feature_extraction?.sequence ?? []) {
    const attrs = step?.operation?.attrs ?? {};
    if (typeof attrs.n_mel === 'number') base.nMels = attrs.n_mel;
    if (typeof attrs.n_fft === 'number') base.nFft = attrs.n_fft;
    if (typeof attrs.hop_length === 'number') base.hop = attrs.hop_length;
  }
  return base;
}

export function readWhisperConfig(dir: string): WhisperConfig {
  const layout = detectWhisper(dir);
  if (!layout) throw new CrucibleError('model_load_failed', `${dir} is not a Whisper folder in a known layout`);
  const tokens = readTokens(dir);
  const gen = readJson(join(dir, 'generation_config.json')) ?? {};
  const suppress = Array.isArray(gen.suppress_tokens) ? gen.suppress_tokens as number[] : defaultSuppress(tokens);
  const beginSuppress = Array.isArray(gen.begin_suppress_tokens) ? gen.begin_suppress_tokens as number[] : [tokens.eot];
  const hfNames = {
    audioFeatures: 'input_features', crossKey: '', crossValue: '', inputIds: 'input_ids', pastKey: 'past_key_values.%d.decoder.key',
    pastValue: 'past_key_values.%d.decoder.value', pastCrossKey: 'past_key_values.%d.encoder.key', pastCrossValue: 'past_key_values.%d.encoder.value',
    presentKey: 'present.%d.decoder.key', presentValue: 'present.%d.decoder.value', logits: 'logits',
  };
  if (layout === 'hf') {
    const c = readJson(join(dir, 'config.json'))!;
    const textCtx = c.max_target_positions ?? 448;
    return {
      layout, dir, encoderPath: join(dir, 'onnx', 'encoder_model.onnx'), decoderPath: join(dir, 'onnx', 'decoder_model_merged.onnx'),
      mel: melOf(dir, layout, c.num_mel_bins ?? 80), heads: c.decoder_attention_heads, headSize: c.d_model / c.decoder_attention_heads,
      layers: c.decoder_layers, textCtx, maxLength: Math.min(gen.max_length ?? textCtx, textCtx), tokens, suppress, beginSuppress, names: hfNames,
    };
  }
  const g = readJson(join(dir, 'genai_config.json'))!.model;
  const enc = g.encoder ?? {};
  const dec = g.decoder ?? {};
  const textCtx = g.context_length ?? 448;
  const heads = dec.num_attention_heads;
  return {
    layout, dir, encoderPath: join(dir, enc.filename ?? 'encoder.onnx'), decoderPath: join(dir, dec.filename ?? 'decoder.onnx'),
    mel: melOf(dir, layout, 80), heads, headSize: dec.head_size ?? dec.hidden_size / heads, layers: dec.num_hidden_layers, textCtx,
    maxLength: Math.min(gen.max_length ?? textCtx, textCtx), tokens, suppress, beginSuppress,
    names: {
      audioFeatures: enc.inputs?.audio_features ?? 'audio_features',
      crossKey: enc.outputs?.cross_present_key_names ?? 'present_key_cross_%d', crossValue: enc.outputs?.cross_present_value_names ?? 'present_value_cross_%d',
      inputIds: dec.inputs?.input_ids ?? 'input_ids', pastKey: dec.inputs?.past_key_names ?? 'past_key_self_%d', pastValue: dec.inputs?.past_value_names ?? 'past_value_self_%d',
      pastCrossKey: dec.inputs?.cross_past_key_names ?? 'past_key_cross_%d', pastCrossValue: dec.inputs?.cross_past_value_names ?? 'past_value_cross_%d',
      presentKey: dec.outputs?.present_key_names ?? 'present_key_self_%d', presentValue: dec.outputs?.present_value_names ?? 'present_value_self_%d',
      logits: dec.outputs?.logits ?? 'logits',
    },
  };
}

export const nameOf = (template: string, layer: number) => template.replace('%d', String(layer));
