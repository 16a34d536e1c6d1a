/**
 * Speech-to-text shapes (`POST /v1/audio/transcriptions`, `/v1/audio/translations`, pipe op
 * `audio.transcriptions`). The transports parse their wire form (multipart, Foundry's JSON
 * `{model, filename}`, a pipe frame) into a TranscriptionRequest; the agent answers a Transcript, or
 * TranscriptEvents when streamed; the transports render it in the asked `response_format`.
 */

/** OpenAI's `response_format` values for transcriptions. */
export const TRANSCRIPTION_FORMATS = ['json', 'text', 'srt', 'vtt', 'verbose_json'] as const;
export type TranscriptionFormat = (typeof TRANSCRIPTION_FORMATS)[number];

/** The audio as uploaded: raw file bytes, decoded in the model's worker, never on the agent's thread. */
export interface AudioUpload {
  bytes: Uint8Array;
  /** The upload's file name (its extension is a format hint). */
  filename?: string;
  /** The part's Content-Type, when the client sent one. */
  contentType?: string;
}

/** A validated transcription or translation request. */
export interface TranscriptionRequest {
  model: string;
  /** `transcribe` keeps the spoken language; `translate` (`/v1/audio/translations`) gives English. */
  task: 'transcribe' | 'translate';
  audio: AudioUpload;
  /** ISO-639-1 code; detected when absent. */
  language?: string;
  /** Text that precedes the audio (spelling, names, style); given to the decoder as the previous context. */
  prompt?: string;
  /** 0 is greedy. */
  temperature?: number;
  /** Segment timestamps are always computed; `word` asks for `words` as well. */
  timestampGranularities?: ('segment' | 'word')[];
}

/** One decoded stretch of speech, as OpenAI's `verbose_json` `segments[]`. Times in seconds. */
export interface TranscriptSegment {
  id: number;
  seek: number;
  start: number;
  end: number;
  text: string;
  tokens: number[];
  temperature: number;
  avg_logprob: number;
  compression_ratio: number;
  no_speech_prob: number;
}

export interface TranscriptWord {
  word: string;
  start: number;
  end: number;
}

/** The whole result: what every `response_format` is rendered from. */
export interface Transcript {
  model: string;
  task: 'transcribe' | 'translate';
  language: string;
  /** Seconds of audio. */
  duration: number;
  text: string;
  segments: TranscriptSegment[];
  /** Only when `timestampGranularities` asked for words. */
  words?: TranscriptWord[];
}

/** What a streamed transcription yields, in order: deltas as text is decoded, then the whole transcript once. */
export type TranscriptEvent =
  | { type: 'delta'; text: string }
  | { type: 'done'; transcript: Transcript };
