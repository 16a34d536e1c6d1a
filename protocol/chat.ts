import { invalid } from './errors.js';
import type { GrammarSpec } from './grammar.js';
import {
  type Inert, type Json, emptyArray, emptyObject, isNullish, oneOf, optionalBoolean, optionalInteger, optionalNumber,
  refuseUnsupported, requireModelName, requireObject,
} from './validate.js';

export type Role = 'system' | 'developer' | 'user' | 'assistant' | 'tool';
const ROLES: ReadonlySet<string> = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

export interface ChatMessage {
  role: Role;
  content: string;
}

/** The sampling knobs after validation, shared by the agent and the worker. */
export interface SamplingParams {
  temperature: number;
  topP: number;
  topK: number;
  seed?: number;
  presencePenalty: number;
  frequencyPenalty: number;
  /** Undefined: generate until the end of text or the context. */
  maxTokens?: number;
  stop: string[];
  /** Keep generating past end-of-text ids (benchmarks; llama.cpp's and vLLM's `ignore_eos`). */
  ignoreEos: boolean;
  /** What the output must match; tokens that would break it are masked before sampling. */
  grammar?: GrammarSpec;
  /** Report each sampled token's log-probability with this many alternatives (0-20); unset: none. */
  logprobs?: number;
}

/** A validated POST /v1/chat/completions body (pipe op `chat.completions`). */
export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  /** Choices to generate for the prompt (OpenAI `n`), decoded together. */
  n: number;
  stream: boolean;
  includeUsage: boolean;
  sampling: SamplingParams;
}

export type FinishReason = 'stop' | 'length';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: { index: number; message: { role: 'assistant'; content: string }; logprobs: null; finish_reason: FinishReason }[];
  usage: Usage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: { index: number; delta: { role?: 'assistant'; content?: string }; logprobs: null; finish_reason: FinishReason | null }[];
  usage?: Usage | null;
}

export interface TokenCountRequest {
  model: string;
  messages: ChatMessage[];
}

export interface TokenCount {
  model: string;
  tokenCount: number;
}

export const MAX_STOP_SEQUENCES = 4;

function parseContent(value: unknown, path: string): string {
  if (typeof value === 'string') return value;
  // The OpenAI content-part form; only text parts can reach a text model.
  if (Array.isArray(value)) {
    return value.map((part, i) => {
      const p = requireObject(part, `${path}[${i}]`);
      if (p.type !== 'text' || typeof p.text !== 'string') {
        throw invalid(`${path}[${i}]`, `'${path}[${i}]' must be a text part {"type":"text","text":...}`);
      }
      return p.text;
    }).join('');
  }
  if (value === null || value === undefined) throw invalid(path, `'${path}' is required: a string or an array of text parts`);
  throw invalid(path, `'${path}' must be a string or an array of text parts`);
}

export function parseMessages(body: Json): ChatMessage[] {
  const raw = body.messages;
  if (!Array.isArray(raw)) throw invalid('messages', "'messages' is required and must be an array");
  if (raw.length === 0) throw invalid('messages', "'messages' must contain at least one message");
  return raw.map((m, i) => {
    const msg = requireObject(m, `messages[${i}]`);
    const role = msg.role;
    if (typeof role !== 'string' || !ROLES.has(role)) {
      throw invalid(`messages[${i}].role`, `'messages[${i}].role' must be one of ${[...ROLES].join(', ')}`);
    }
    // Tool calls are not implemented: a conversation that carries them cannot be served faithfully.
    refuseUnsupported(msg, MESSAGE_UNSUPPORTED, `messages[${i}].`);
    return { role: role as Role, content: parseContent(msg.content, `messages[${i}].content`) };
  });
}

function parseStop(body: Json): string[] {
  const stop = body.stop;
  if (stop === undefined || stop === null) return [];
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw invalid('stop', "'stop' must be a non-empty string or an array of non-empty strings");
  }
  if (list.length > MAX_STOP_SEQUENCES) throw invalid('stop', `'stop' takes at most ${MAX_STOP_SEQUENCES} sequences`);
  return list as string[];
}

/** Most choices one request may ask for (OpenAI's own limit for `n`). */
export const MAX_CHOICES = 128;

/** Message fields that are known but not implemented. */
const MESSAGE_UNSUPPORTED: Record<string, Inert> = {
  tool_calls: emptyArray,
  function_call: isNullish,
  audio: isNullish,
};

/** Known chat request fields that are not implemented, with the values that mean "not used". */
const CHAT_UNSUPPORTED: Record<string, Inert> = {
  logprobs: oneOf(false),
  top_logprobs: isNullish,
  tools: emptyArray,
  tool_choice: oneOf('none'),
  functions: emptyArray,
  function_call: oneOf('none'),
  response_format: (v) => isNullish(v) || (typeof v === 'object' && v !== null && !Array.isArray(v)
    && (v as Json).type === 'text' && Object.keys(v).length === 1),
  logit_bias: emptyObject,
  audio: isNullish,
  modalities: (v) => isNullish(v) || (Array.isArray(v) && v.length === 1 && v[0] === 'text'),
  prediction: isNullish,
  web_search_options: isNullish,
};

/** The sampling fields shared by chat and text completions. */
export function parseSampling(body: Json, maxTokens: number | undefined): SamplingParams {
  return {
    temperature: optionalNumber(body, 'temperature', 0, 2) ?? 1,
    topP: optionalNumber(body, 'top_p', 0, 1) ?? 1,
    topK: optionalInteger(body, 'top_k', 0, 1_000_000) ?? 0,
    seed: optionalInteger(body, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    presencePenalty: optionalNumber(body, 'presence_penalty', -2, 2) ?? 0,
    frequencyPenalty: optionalNumber(body, 'frequency_penalty', -2, 2) ?? 0,
    maxTokens,
    stop: parseStop(body),
    ignoreEos: optionalBoolean(body, 'ignore_eos') ?? false,
  };
}

/** `stream` and `stream_options.include_usage`. */
export function parseStreaming(body: Json): { stream: boolean; includeUsage: boolean } {
  const streamOptions = body.stream_options === undefined || body.stream_options === null
    ? {} : requireObject(body.stream_options, 'stream_options');
  return {
    stream: optionalBoolean(body, 'stream') ?? false,
    includeUsage: optionalBoolean(streamOptions, 'include_usage', 'stream_options.include_usage') ?? false,
  };
}

export const parseChoiceCount = (body: Json): number => optionalInteger(body, 'n', 1, MAX_CHOICES) ?? 1;

/**
 * The sampling of choice `index` of a request: with a seed, each choice gets `seed + index`, so
 * the choices differ from each other and the same request still gives the same answer.
 */
export function choiceSampling(sampling: SamplingParams, index: number): SamplingParams {
  return sampling.seed === undefined || index === 0 ? sampling : { ...sampling, seed: sampling.seed + index };
}

export function parseChatCompletionRequest(input: unknown): ChatCompletionRequest {
  const body = requireObject(input, 'body');
  const model = requireModelName(body, 'model');
  refuseUnsupported(body, CHAT_UNSUPPORTED);
  const messages = parseMessages(body);
  const maxTokens = optionalInteger(body, 'max_completion_tokens', 1, 1_000_000)
    ?? optionalInteger(body, 'max_tokens', 1, 1_000_000);
  return { model, messages, n: parseChoiceCount(body), ...parseStreaming(body), sampling: parseSampling(body, maxTokens) };
}

export function parseTokenCountRequest(input: unknown): TokenCountRequest {
  const body = requireObject(input, 'body');
  return { model: requireModelName(body, 'model'), messages: parseMessages(body) };
}
