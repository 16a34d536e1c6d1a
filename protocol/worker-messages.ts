import type { MessagePort } from 'node:worker_threads';
import type { Transcript } from './audio.js';
import type { ChatMessage, FinishReason, SamplingParams } from './chat.js';
import type { ErrorBody } from './errors.js';
import type { TokenLogprob } from './grammar.js';
import type { ClassPrediction, ImageType, ModelMetadata, OcrPrediction } from './predict.js';

/** What the agent tells a model worker when it starts (piscina `workerData`). */
export interface WorkerInit {
  modelDir: string;
  executionProvider: string;
  intraOpThreads: number;
  /** Largest number of sequences decoded in one step. */
  maxBatch: number;
  /** Prompt tokens prefilled per step, so a long prompt does not stall running streams. */
  prefillChunk: number;
  /** Where the fused form of this model is cached; null to load the export as it is. */
  fusedDir?: string | null;
  /** Which `.onnx` file of a folder with several to load (`q4`, `fp16`, `model_q4.onnx`); unset picks the best that runs. */
  variant?: string;
  /** Bytes of finished sequences' KV caches kept for prefix reuse; 0 turns it off. */
  prefixCacheBytes?: number;
  /** Time each part of a decode step (benchmark only). */
  profile?: boolean;
  /** Keep KV caches on the device between steps on GPU providers (default true; false for comparisons). */
  deviceKv?: boolean;
}

/** Facts about a loaded model that the agent reports. */
export interface LoadedModelFacts {
  contextLength: number;
  vocabSize: number;
  numLayers: number;
  executionProvider: string;
  layout: 'hf' | 'genai';
  /** Resident memory the model added when it loaded: tokenizer and session (bytes, measured in the worker). */
  memoryBytes: number;
  /** Of that, what the ONNX Runtime session took: the weights as the runtime holds them. */
  sessionMemoryBytes?: number;
  /** Whether the session runs the fused graph (see `crucible model optimize`). */
  fused?: boolean;
  /** The `.onnx` file loaded, relative to the model folder, and its variant name. */
  onnxFile?: string;
  variant?: string;
  /** Attention form the batching follows (GroupQueryAttention needs right-padded caches). */
  attention?: 'gqa' | 'masked';
  /** Element type of the KV cache and logits. */
  cacheType?: 'float32' | 'float16';
  /** Where the KV caches live between decode steps: `device` (GPU buffers; only logits come back) or `host`. */
  kvCache?: 'device' | 'host';
  /** The chat template renders `tools`, and the call syntax it teaches when that is Hermes-style blocks. */
  templateTakesTools?: boolean;
  toolTags?: { begin: string; end: string } | null;
}

/** What a sequence continues: chat messages through the model's template, or raw text (legacy completions). */
export type PromptInput = ChatMessage[] | { text: string } | { messages: ChatMessage[]; tools: unknown[] };

export interface GenerateTask {
  kind: 'generate';
  messages: ChatMessage[];
  /** Raw prompt text, encoded as it is with the tokenizer's special tokens; set instead of messages. */
  text?: string;
  /** Functions to show the model through its chat template (OpenAI `tools` form). */
  tools?: unknown[];
  sampling: SamplingParams;
  /** Receives WorkerEvents; ends with exactly one `done` or `error`. */
  port: MessagePort;
  /** Int32Array(1) view: non-zero asks the worker to stop this sequence between steps. */
  cancel: SharedArrayBuffer;
}

/** Sentence vectors for a batch of inputs (texts are tokenized in the worker). */
export interface EmbedTask {
  kind: 'embed';
  inputs: (string | number[])[];
  pooling: 'last' | 'mean';
}

export interface CountTask {
  kind: 'count';
  messages: ChatMessage[];
}

export interface LoadTask {
  kind: 'load';
}

/** Diagnostics: makes the worker die from an uncaught exception between two decode steps. */
export interface CrashTask {
  kind: 'crash';
}

export type WorkerTask = GenerateTask | CountTask | LoadTask | CrashTask | EmbedTask;

export type WorkerEvent =
  /** `cachedTokens`: prompt tokens whose KV came from the prefix cache instead of a prefill. */
  | { type: 'start'; promptTokens: number; cachedTokens?: number }
  | { type: 'delta'; text: string }
  /** Each sampled token's log-probability, before the text it contributes to (when asked). */
  | { type: 'logprobs'; entries: TokenLogprob[] }
  | { type: 'done'; finishReason: FinishReason; promptTokens: number; completionTokens: number }
  | { type: 'error'; error: ErrorBody };

export type WorkerResult =
  | { ok: true; facts?: LoadedModelFacts; tokenCount?: number; vectors?: Float32Array[] }
  | { ok: false; error: ErrorBody };

/** What a predictive model's worker starts with. */
export interface PredictWorkerInit {
  modelDir: string;
  name: string;
  intraOpThreads: number;
  /** Decoded images larger than this are refused. */
  maxPixels: number;
}

export type PredictTask =
  | { kind: 'load' }
  | { kind: 'predict'; items: { contentType: ImageType; bytes: Uint8Array }[] };

export type PredictWorkerResult =
  | { ok: true; metadata?: ModelMetadata; predictions?: (OcrPrediction | ClassPrediction)[] }
  | { ok: false; error: ErrorBody };

/** What an embedding model's worker starts with. */
export interface EmbeddingWorkerInit {
  modelDir: string;
  intraOpThreads: number;
  /** crucible.json's `pooling`, over the folder's own. */
  pooling?: 'mean' | 'cls' | 'last';
}

export type EmbeddingTask =
  | { kind: 'load' }
  | { kind: 'embed'; inputs: (string | number[])[] };

export type EmbeddingWorkerResult =
  | { ok: true; facts?: LoadedModelFacts; vectors?: Float32Array[]; tokenCount?: number }
  | { ok: false; error: ErrorBody };

/** What a speech model's worker starts with. */
export interface SpeechWorkerInit {
  modelDir: string;
  intraOpThreads: number;
}

/** One transcription as the worker receives it: the upload's bytes, decoded in the worker. */
export interface SpeechJob {
  bytes: Uint8Array;
  filename?: string;
  contentType?: string;
  task: 'transcribe' | 'translate';
  language?: string;
  prompt?: string;
  temperature: number;
  words: boolean;
}

export type SpeechTask =
  | { kind: 'load' }
  | { kind: 'crash' }
  /** Segments are posted on `port` as each window is decoded (`{ segments }`), then `{ done: true }`. */
  | { kind: 'transcribe'; job: SpeechJob; cancel: SharedArrayBuffer; port?: MessagePort };

/** One decoded 30-second window: where it started (in mel frames), the prefix it was given and what it produced. */
export interface TranscriptWindow {
  seek: number;
  prefix: number[];
  tokens: number[];
}

/** What a speech worker answers: the transcript without the model's name (the agent adds it), and its windows. */
export type WorkerTranscript = Omit<Transcript, 'model'> & { windows: TranscriptWindow[] };

export interface SpeechFacts {
  layout: 'hf' | 'genai';
  languages: string[];
  mels: number;
  vocabSize: number;
  numLayers: number;
  contextLength: number;
}

export type SpeechWorkerResult =
  | { ok: true; facts?: SpeechFacts; transcript?: WorkerTranscript }
  | { ok: false; error: ErrorBody };
