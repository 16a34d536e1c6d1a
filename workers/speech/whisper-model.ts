/**
 * A Whisper model's two ONNX Runtime sessions behind one interface for both layouts: encode a
 * window's features once, then step the decoder with its self-attention cache (and the
 * cross-attention keys and values, computed once per window).
 */
import * as ort from 'onnxruntime-node';
import { type WhisperConfig, nameOf, readWhisperConfig } from './whisper-config.js';

type Feeds = Record<string, ort.Tensor>;

/** One window's decoding state: the encoder's output and the growing self-attention cache. */
export class DecoderState {
  private past: Feeds;
  private first = true;

  constructor(private readonly m: WhisperModel, private cross: Feeds) {
    const { layers, heads, headSize } = m.cfg;
    const n = m.cfg.names;
    this.past = {};
    for (let l = 0; l < layers; l++) {
      for (const t of [n.pastKey, n.pastValue]) this.past[nameOf(t, l)] = new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headSize]);
    }
  }

  /** Feeds new tokens; returns the logits of each of them ([tokens][vocab], row-major). */
  async step(ids: number[]): Promise<{ logits: Float32Array; vocab: number }> {
    const { cfg } = this.m;
    const n = cfg.names;
    const feeds: Feeds = { ...this.past };
    if (cfg.layout === 'hf') {
      feeds.input_ids = new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
      feeds.use_cache_branch = new ort.Tensor('bool', Uint8Array.of(this.first ? 0 : 1), [1]);
      Object.assign(feeds, this.cross);
    } else {
      feeds[n.inputIds] = new ort.Tensor('int32', Int32Array.from(ids), [1, ids.length]);
      Object.assign(feeds, this.cross);
    }
    const out = await this.m.decoder.run(feeds);
    const next: Feeds = {};
    for (let l = 0; l < cfg.layers; l++) {
      next[nameOf(n.pastKey, l)] = out[nameOf(n.presentKey, l)];
      next[nameOf(n.pastValue, l)] = out[nameOf(n.presentValue, l)];
    }
    if (cfg.layout === 'hf' && this.first) {
      // The merged decoder computed the cross-attention keys and values from the encoder's output
      // on the first step; later steps take them as the cache (its use_cache_branch).
      const cross: Feeds = { encoder_hidden_states: this.cross.encoder_hidden_states };
      for (let l = 0; l < cfg.layers; l++) {
        cross[`past_key_values.${l}.encoder.key`] = out[`present.${l}.encoder.key`];
        cross[`past_key_values.${l}.encoder.value`] = out[`present.${l}.encoder.value`];
      }
      this.cross = cross;
    }
    this.first = false;
    this.past = next;
    const logits = out[n.logits];
    return { logits: logits.data as Float32Array, vocab: logits.dims[2] };
  }
}

export class WhisperModel {
  private constructor(readonly cfg: WhisperConfig, readonly encoder: ort.InferenceSession, readonly decoder: ort.InferenceSession) {}

  static async load(dir: string, threads: number): Promise<WhisperModel> {
    const cfg = readWhisperConfig(dir);
    const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: ['cpu'] };
    const [encoder, decoder] = await Promise.all([ort.InferenceSession.create(cfg.encoderPath, opts), ort.InferenceSession.create(cfg.decoderPath, opts)]);
    return new WhisperModel(cfg, encoder, decoder);
  }

  /** Runs the encoder on one window's features ([mels, 3000]); returns a fresh decoding state. */
  async encode(features: Float32Array): Promise<() => DecoderState> {
    const { cfg } = this;
    const input = new ort.Tensor('float32', features, [1, cfg.mel.nMels, features.length / cfg.mel.nMels]);
    const n = cfg.names;
    const cross: Feeds = {};
    if (cfg.layout === 'hf') {
      const out = await this.encoder.run({ input_features: input });
      cross.encoder_hidden_states = out.last_hidden_state;
      const empty = new ort.Tensor('float32', new Float32Array(0), [1, cfg.heads, 0, cfg.headSize]);
      for (let l = 0; l < cfg.layers; l++) {
        cross[`past_key_values.${l}.encoder.key`] = empty;
        cross[`past_key_values.${l}.encoder.value`] = empty;
      }
    } else {
      const out = await this.encoder.run({ [n.audioFeatures]: input });
      for (let l = 0; l < cfg.layers; l++) {
        cross[nameOf(n.pastCrossKey, l)] = out[nameOf(n.crossKey, l)];
        cross[nameOf(n.pastCrossValue, l)] = out[nameOf(n.crossValue, l)];
      }
    }
    return () => new DecoderState(this, cross);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.encoder.release(), this.decoder.release()]);
  }
}
