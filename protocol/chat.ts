import { invalid } from './errors.js';
import {
  type Json, optionalBoolean, optionalInteger, optionalNumber, requireModelName, requireObject,
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
}

/** A validated POST /v1/chat/completions body (pipe op `chat.completions`). */
export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
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
  if (value === null || value === undefined) return '';
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

export function parseChatCompletionRequest(input: unknown): ChatCompletionRequest {
  const body = requireObject(input, 'body');
  const model = requireModelName(body, 'model');
  const messages = parseMessages(body);
  const n = optionalInteger(body, 'n', 1, 128);
  if (n !== undefined && n !== 1) throw invalid('n', "'n' must be 1: one choice per request is supported");
  const maxTokens = optionalInteger(body, 'max_completion_tokens', 1, 1_000_000)
    ?? optionalInteger(body, 'max_tokens', 1, 1_000_000);
  const streamOptions = body.stream_options === undefined || body.stream_options === null
    ? {} : requireObject(body.stream_options, 'stream_options');
  const temperature = optionalNumber(body, 'temperature', 0, 2) ?? 1;
  return {
    model,
    messages,
    stream: optionalBoolean(body, 'stream') ?? false,
    includeUsage: optionalBoolean(streamOptions, 'include_usage', 'stream_options.include_usage') ?? false,
    sampling: {
      temperature,
      topP: optionalNumber(body, 'top_p', 0, 1) ?? 1,
      topK: optionalInteger(body, 'top_k', 0, 1_000_000) ?? 0,
      seed: optionalInteger(body, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
      presencePenalty: optionalNumber(body, 'presence_penalty', -2, 2) ?? 0,
      frequencyPenalty: optionalNumber(body, 'frequency_penalty', -2, 2) ?? 0,
      maxTokens,
      stop: parseStop(body),
      ignoreEos: optionalBoolean(body, 'ignore_eos') ?? false,
    },
  };
}

export function parseTokenCountRequest(input: unknown): TokenCountRequest {
  const body = requireObject(input, 'body');
  return { model: requireModelName(body, 'model'), messages: parseMessages(body) };
}
