import { invalid, unsupported } from './errors.js';
import {
  type FinishReason, MAX_CHOICES, type SamplingParams, type Usage, parseChoiceCount, parseSampling, parseStreaming,
} from './chat.js';
import { type Inert, type Json, emptyObject, optionalBoolean, optionalInteger, refuseUnsupported, requireModelName, requireObject } from './validate.js';

/**
 * A validated POST /v1/completions body (pipe op `completions`): OpenAI's legacy text
 * completions. Each prompt is continued as it is; `n` choices are generated per prompt.
 */
export interface CompletionRequest {
  model: string;
  /** One or more prompts; choice `p * n + i` is choice `i` of prompt `p`. */
  prompts: string[];
  n: number;
  /** Prepend each prompt to its choices' text. */
  echo: boolean;
  stream: boolean;
  includeUsage: boolean;
  sampling: SamplingParams;
}

/** The legacy endpoint's per-token log-probabilities (OpenAI `choices[].logprobs`). */
export interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: number[];
  /** Per token, its `logprobs` strongest alternatives; null when 0 were asked. */
  top_logprobs: Record<string, number>[] | null;
  /** Where each token starts in the choice's text. */
  text_offset: number[];
}

export interface CompletionChoice {
  index: number;
  text: string;
  logprobs: LegacyLogprobs | null;
  finish_reason: FinishReason;
}

/** The `text_completion` object; stream chunks have the same shape with partial `text`. */
export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: CompletionChoice[];
  usage: Usage;
}

export interface CompletionChunk {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: { index: number; text: string; logprobs: LegacyLogprobs | null; finish_reason: FinishReason | null }[];
  usage?: Usage | null;
}

/** OpenAI's default for the legacy endpoint (chat has none). */
export const DEFAULT_COMPLETION_TOKENS = 16;

/** Known legacy completion fields that are not implemented, with the values that mean "not used". */
const COMPLETION_UNSUPPORTED: Record<string, Inert> = {
  logit_bias: emptyObject,
};

function parsePrompts(body: Json): string[] {
  const prompt = body.prompt;
  if (prompt === undefined || prompt === null) throw invalid('prompt', "'prompt' is required: a string or an array of strings");
  if (typeof prompt === 'string') return [prompt];
  if (!Array.isArray(prompt) || prompt.length === 0) throw invalid('prompt', "'prompt' must be a string or a non-empty array of strings");
  if (prompt.every((p) => typeof p === 'string')) return prompt as string[];
  if (prompt.every((p) => typeof p === 'number' || Array.isArray(p))) {
    throw unsupported('prompt', "'prompt' as token ids is not supported by this server; send the text");
  }
  const bad = prompt.findIndex((p) => typeof p !== 'string');
  throw invalid(`prompt[${bad}]`, `'prompt[${bad}]' must be a string`);
}

export function parseCompletionRequest(input: unknown): CompletionRequest {
  const body = requireObject(input, 'body');
  const model = requireModelName(body, 'model');
  refuseUnsupported(body, COMPLETION_UNSUPPORTED);
  if (body.suffix !== undefined && body.suffix !== null) {
    throw unsupported('suffix', "'suffix' (insertion after the completion) is not supported by this server; leave it out");
  }
  const prompts = parsePrompts(body);
  const n = parseChoiceCount(body);
  const bestOf = optionalInteger(body, 'best_of', 1, 20);
  if (bestOf !== undefined && bestOf !== n) {
    throw unsupported('best_of', "'best_of' other than n (ranking candidates by log probability) is not supported by this server");
  }
  if (prompts.length * n > MAX_CHOICES) {
    throw invalid(prompts.length > 1 ? 'prompt' : 'n', `${prompts.length} prompts x n=${n} is more than ${MAX_CHOICES} choices in one request`);
  }
  const maxTokens = optionalInteger(body, 'max_tokens', 1, 1_000_000) ?? DEFAULT_COMPLETION_TOKENS;
  const sampling = parseSampling(body, maxTokens);
  const echo = optionalBoolean(body, 'echo') ?? false;
  // OpenAI's legacy `logprobs` is the number of alternatives (0-5), not a flag.
  const logprobs = optionalInteger(body, 'logprobs', 0, 5);
  if (logprobs !== undefined) {
    if (echo) throw unsupported('logprobs', "'logprobs' together with 'echo' (log-probabilities of the prompt) is not supported by this server");
    sampling.logprobs = logprobs;
  }
  return { model, prompts, n, echo, ...parseStreaming(body), sampling };
}
