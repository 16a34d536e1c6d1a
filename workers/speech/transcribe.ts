/**
 * Long-form transcription as OpenAI's `transcribe()` does it: 30-second windows, each encoded
 * once, the window after one ending mid-segment starting at that segment's last timestamp (so a
 * word cut by the window's end is decoded again, whole, in the next window), a window whose last
 * segment is complete (a single closing timestamp) or that holds no timestamp pair consumed whole.
 * Each window gets the text decoded so far (its last 223 tokens) after <|startofprev|> as its
 * context, after the request's `prompt`. Segments' times come from their timestamp tokens.
 *
 * Not done as OpenAI does: no temperature fallback (a window is decoded once, at the requested
 * temperature), and word times are spread over each segment in proportion to the words' lengths
 * (no cross-attention alignment): see the README.
 */
import { deflateSync } from 'node:zlib';
import { Tokenizer } from '@huggingface/tokenizers';
import type { TranscriptSegment, TranscriptWord } from '../../protocol/audio.js';
import type { WorkerTranscript } from '../../protocol/worker-messages.js';
import { CrucibleError } from '../../protocol/errors.js';
import { decodeWindow, detectLanguage } from './decode-window.js';
import { LogMel } from './mel.js';
import { seededRandom } from '../engine/sampler.js';
import type { WhisperModel } from './whisper-model.js';

export interface TranscribeOptions {
  task: 'transcribe' | 'translate';
  language?: string;
  prompt?: string;
  temperature: number;
  words: boolean;
  seed?: number;
  cancelled: () => boolean;
  /** Each window's new segments, as they are decoded. */
  onSegments?: (segments: TranscriptSegment[]) => void;
}


const compressionRatio = (text: string) => {
  const b = Buffer.from(text, 'utf8');
  return b.length === 0 ? 0 : b.length / deflateSync(b).length;
};

export class Transcriber {
  private readonly mel: LogMel;

  constructor(private readonly model: WhisperModel, private readonly tokenizer: Tokenizer) {
    this.mel = new LogMel(model.cfg.mel);
  }

  private text(tokens: number[]): string {
    const eot = this.model.cfg.tokens.eot;
    const text = tokens.filter((t) => t < eot);
    return text.length === 0 ? '' : this.tokenizer.decode(text, { skip_special_tokens: true });
  }

  private prefix(language: string, task: 'transcribe' | 'translate', context: number[]): number[] {
    const t = this.model.cfg.tokens;
    const out: number[] = [];
    if (context.length > 0 && t.startOfPrev !== null) out.push(t.startOfPrev, ...context.slice(-Math.floor(this.model.cfg.textCtx / 2 - 1)));
    out.push(t.sot);
    if (t.languages.size > 1) {
      const lang = t.languages.get(language);
      if (lang === undefined) throw new CrucibleError('invalid_request', `language '${language}' is not one this model knows (${[...t.languages.keys()].join(', ')})`, 'language');
      out.push(lang);
      const taskToken = task === 'translate' ? t.translate : t.transcribe;
      if (taskToken !== null) out.push(taskToken);
    }
    return out;
  }

  async run(audio: Float32Array, o: TranscribeOptions): Promise<WorkerTranscript> {
    const cfg = this.model.cfg;
    const t = cfg.tokens;
    const { hop, sampleRate, nSamples } = cfg.mel;
    const framesPerWindow = nSamples / hop;
    const totalFrames = Math.floor(audio.length / hop);
    const duration = audio.length / sampleRate;
    const random = seededRandom(o.seed ?? 0);
    const segments: TranscriptSegment[] = [];
    const windows: WorkerTranscript['windows'] = [];
    let context = o.prompt ? this.tokenizer.encode(` ${o.prompt.trim()}`).ids : [];
    let language = o.language;
    let seek = 0;
    // Seconds per timestamp step: the encoder halves the frames (30 s over 1500 positions).
    const precision = (hop * 2) / sampleRate;
    while (seek < totalFrames) {
      if (o.cancelled()) throw new CrucibleError('cancelled', 'the transcription was cancelled');
      const start = seek * hop;
      const windowFrames = Math.min(framesPerWindow, totalFrames - seek);
      const features = this.mel.window30(audio.subarray(start, start + nSamples));
      const newState = await this.model.encode(features);
      if (language === undefined) language = t.languages.size > 1 ? await detectLanguage(cfg, newState()) : 'en';
      const prefix = this.prefix(language, o.task, context);
      const r = await decodeWindow(cfg, newState(), prefix, { temperature: o.temperature, random, cancelled: o.cancelled });
      windows.push({ seek, prefix, tokens: r.tokens });
      const tokens = r.tokens;
      // Nothing decoded (cannot happen under the timestamp rules, which force a first timestamp): move on.
      if (tokens.length === 0) { seek += windowFrames; continue; }
      const offset = start / sampleRate;
      const isTs = tokens.map((x) => x >= t.timestampBegin);
      const single = tokens.length >= 2 && isTs[tokens.length - 1] && !isTs[tokens.length - 2];
      const pairs: number[] = [];
      for (let i = 1; i < tokens.length; i++) if (isTs[i] && isTs[i - 1]) pairs.push(i);
      const pieces: { start: number; end: number; tokens: number[] }[] = [];
      let advance = windowFrames;
      if (pairs.length > 0) {
        const slices = single ? [...pairs, tokens.length] : pairs;
        let last = 0;
        for (const cur of slices) {
          const piece = tokens.slice(last, cur);
          pieces.push({ start: (piece[0] - t.timestampBegin) * precision, end: (piece[piece.length - 1] - t.timestampBegin) * precision, tokens: piece });
          last = cur;
        }
        if (!single) advance = (tokens[last - 1] - t.timestampBegin) * 2;
      } else {
        const stamps = tokens.filter((x) => x >= t.timestampBegin);
        let end = windowFrames * hop / sampleRate;
        if (stamps.length > 0 && stamps[stamps.length - 1] !== t.timestampBegin) end = (stamps[stamps.length - 1] - t.timestampBegin) * precision;
        pieces.push({ start: 0, end, tokens });
      }
      // A window that would not move (its last pair at 0.00) is consumed whole: no endless loop.
      if (advance <= 0) advance = windowFrames;
      const windowText = this.text(pieces.flatMap((s) => s.tokens));
      const avg = r.sumLogprob / (tokens.length + 1);
      const ratio = compressionRatio(windowText);
      const added: TranscriptSegment[] = [];
      for (const s of pieces) {
        const text = this.text(s.tokens);
        const startS = Math.min(duration, offset + s.start);
        added.push({
          id: segments.length + added.length, seek, start: round(startS), end: round(Math.max(startS, Math.min(duration, offset + s.end))),
          text, tokens: s.tokens, temperature: o.temperature, avg_logprob: avg, compression_ratio: ratio, no_speech_prob: r.noSpeechProb,
        });
      }
      segments.push(...added);
      o.onSegments?.(added);
      context = [...context, ...pieces.flatMap((s) => s.tokens.filter((x) => x < t.eot))];
      seek += Math.min(advance, windowFrames);
    }
    const text = segments.map((s) => s.text).join('').trim();
    return {
      task: o.task, language: language ?? 'en', duration: round(duration), text, segments,
      ...(o.words ? { words: segments.flatMap(spreadWords) } : {}), windows,
    };
  }
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** Words of a segment with times spread in proportion to their lengths (no alignment model). */
function spreadWords(s: TranscriptSegment): TranscriptWord[] {
  const words = s.text.split(/\s+/).filter((w) => w.length > 0);
  const total = words.reduce((a, w) => a + w.length, 0);
  let at = s.start;
  return words.map((word) => {
    const len = total === 0 ? 0 : ((s.end - s.start) * word.length) / total;
    const w = { word, start: round(at), end: round(at + len) };
    at += len;
    return w;
  });
}
