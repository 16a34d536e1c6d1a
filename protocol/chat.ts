import { invalid, unsupported } from './errors.js';
import type { GrammarSpec, TokenLogprob, ToolChoice, ToolFunction } from './grammar.js';
import { checkSchemaSupported } from './json-schema-support.js';
import {
  type Inert, type Json, emptyArray, emptyObject, isNullish, oneOf, optionalBoolean, optionalInteger, optionalNumber,
  refuseUnsupported, requireModelName, requireObject,
} from './validate.js';

export type Role = 'system' | 'developer' | 'user' | 'assistant' | 'tool';
const ROLES: ReadonlySet<string> = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

/** A function call the assistant made (OpenAI `tool_calls[]`). */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: Role;
  /** Text; '' for an assistant turn that only called tools. */
  content: string;
  /** Calls an assistant turn made, replayed in the conversation. */
  tool_calls?: ToolCall[];
  /** On a `tool` message: the call it answers. */
  tool_call_id?: string;
  name?: string;
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

/** What the output must be, beside plain text (`response_format`). */
export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; schema: Record<string, unknown> | boolean; strict: boolean };

/** A validated POST /v1/chat/completions body (pipe op `chat.completions`). */
export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  /** Functions the model may call, and how (`tool_choice`, `parallel_tool_calls`). */
  tools: ToolFunction[];
  toolChoice: ToolChoice;
  parallelToolCalls: boolean;
  responseFormat: ResponseFormat;
  /** Choices to generate for the prompt (OpenAI `n`), decoded together. */
  n: number;
  stream: boolean;
  includeUsage: boolean;
  sampling: SamplingParams;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls';

/** OpenAI `choices[].logprobs`: one entry per generated token. */
export interface ChoiceLogprobs {
  content: TokenLogprob[];
  refusal: null;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Present when part of the prompt came from the prefix cache instead of a prefill. */
  prompt_tokens_details?: { cached_tokens: number };
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: {
    index: number;
    message: { role: 'assistant'; content: string | null; refusal: null; tool_calls?: ToolCall[] };
    logprobs: ChoiceLogprobs | null;
    finish_reason: FinishReason;
  }[];
  usage: Usage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: { index: number; delta: ChunkDelta; logprobs: ChoiceLogprobs | null; finish_reason: FinishReason | null }[];
  usage?: Usage | null;
}

/** A stream chunk's `delta`: tool calls arrive as an id and name first, then argument pieces. */
export interface ChunkDelta {
  role?: 'assistant';
  content?: string | null;
  tool_calls?: { index: number; id?: string; type?: 'function'; function: { name?: string; arguments: string } }[];
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
    refuseUnsupported(msg, MESSAGE_UNSUPPORTED, `messages[${i}].`);
    const calls = role === 'assistant' ? parseToolCalls(msg.tool_calls, `messages[${i}].tool_calls`) : undefined;
    if (msg.tool_calls !== undefined && msg.tool_calls !== null && role !== 'assistant') {
      throw invalid(`messages[${i}].tool_calls`, `'messages[${i}].tool_calls' is only allowed on assistant messages`);
    }
    // An assistant turn that called tools may have no text.
    const content = calls && (msg.content === null || msg.content === undefined) ? '' : parseContent(msg.content, `messages[${i}].content`);
    const out: ChatMessage = { role: role as Role, content };
    if (calls) out.tool_calls = calls;
    if (role === 'tool') {
      if (typeof msg.tool_call_id !== 'string' || msg.tool_call_id.length === 0) {
        throw invalid(`messages[${i}].tool_call_id`, `'messages[${i}].tool_call_id' is required on tool messages: the id of the call it answers`);
      }
      out.tool_call_id = msg.tool_call_id;
    }
    if (typeof msg.name === 'string') out.name = msg.name;
    return out;
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
  function_call: isNullish,
  audio: isNullish,
};

function parseToolCalls(value: unknown, path: string): ToolCall[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw invalid(path, `'${path}' must be an array`);
  if (value.length === 0) return undefined;
  return value.map((c, i) => {
    const call = requireObject(c, `${path}[${i}]`);
    const fn = requireObject(call.function, `${path}[${i}].function`);
    if (typeof call.id !== 'string') throw invalid(`${path}[${i}].id`, `'${path}[${i}].id' must be a string`);
    if (typeof fn.name !== 'string' || typeof fn.arguments !== 'string') {
      throw invalid(`${path}[${i}].function`, `'${path}[${i}].function' needs a string 'name' and a JSON string 'arguments'`);
    }
    return { id: call.id, type: 'function' as const, function: { name: fn.name, arguments: fn.arguments } };
  });
}

const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

function parseTools(body: Json): ToolFunction[] {
  const raw = body.tools;
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw invalid('tools', "'tools' must be an array");
  const names = new Set<string>();
  return raw.map((t, i) => {
    const tool = requireObject(t, `tools[${i}]`);
    if (tool.type !== 'function') throw unsupported(`tools[${i}].type`, `only function tools are supported; 'tools[${i}].type' is ${JSON.stringify(tool.type)}`);
    const fn = requireObject(tool.function, `tools[${i}].function`);
    if (typeof fn.name !== 'string' || !FUNCTION_NAME.test(fn.name)) {
      throw invalid(`tools[${i}].function.name`, `'tools[${i}].function.name' must be 1-64 letters, digits, '_' or '-'`);
    }
    if (names.has(fn.name)) throw invalid(`tools[${i}].function.name`, `the function name '${fn.name}' appears twice`);
    names.add(fn.name);
    const parameters = fn.parameters === undefined || fn.parameters === null ? { type: 'object', properties: {} } : fn.parameters;
    checkSchemaSupported(parameters, `tools[${i}].function.parameters`);
    if (typeof parameters !== 'object' || (parameters as Json).type !== 'object') {
      throw invalid(`tools[${i}].function.parameters`, `'tools[${i}].function.parameters' must be a JSON Schema of type object`);
    }
    return {
      name: fn.name,
      ...(typeof fn.description === 'string' ? { description: fn.description } : {}),
      parameters: parameters as Record<string, unknown>,
      ...(typeof fn.strict === 'boolean' ? { strict: fn.strict } : {}),
    };
  });
}

function parseToolChoice(body: Json, tools: ToolFunction[]): ToolChoice {
  const v = body.tool_choice;
  if (v === undefined || v === null) return tools.length > 0 ? 'auto' : 'none';
  if (v === 'none' || v === 'auto' || v === 'required') {
    if (v !== 'none' && tools.length === 0) throw invalid('tool_choice', `'tool_choice' is ${v} but no 'tools' are given`);
    return v;
  }
  const o = requireObject(v, 'tool_choice');
  const name = o.type === 'function' && o.function && typeof (o.function as Json).name === 'string' ? (o.function as Json).name as string : null;
  if (!name) throw invalid('tool_choice', "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}");
  if (!tools.some((t) => t.name === name)) throw invalid('tool_choice', `'tool_choice' names '${name}', which is not in 'tools'`);
  return { name };
}

function parseResponseFormat(body: Json): ResponseFormat {
  const v = body.response_format;
  if (v === undefined || v === null) return { type: 'text' };
  const o = requireObject(v, 'response_format');
  if (o.type === 'text') return { type: 'text' };
  if (o.type === 'json_object') return { type: 'json_object' };
  if (o.type === 'json_schema') {
    const js = requireObject(o.json_schema, 'response_format.json_schema');
    const name = typeof js.name === 'string' && js.name ? js.name : 'response';
    if (js.schema === undefined || js.schema === null) throw invalid('response_format.json_schema.schema', "'response_format.json_schema.schema' is required");
    checkSchemaSupported(js.schema, 'response_format.json_schema.schema');
    return { type: 'json_schema', name, schema: js.schema as Record<string, unknown> | boolean, strict: optionalBoolean(js, 'strict', 'response_format.json_schema.strict') ?? false };
  }
  throw invalid('response_format.type', "'response_format.type' must be text, json_object or json_schema");
}

/** The grammar a response format asks for, if any. */
export function formatGrammar(f: ResponseFormat): GrammarSpec | undefined {
  if (f.type === 'json_object') return { kind: 'json_object' };
  // The grammar is always the strict form of the schema: its outputs are valid either way, and
  // closing unspecified additionalProperties keeps small models from adding fields forever.
  if (f.type === 'json_schema') return { kind: 'json_schema', schema: f.schema, strict: true };
  return undefined;
}

/** Known chat request fields that are not implemented, with the values that mean "not used". */
const CHAT_UNSUPPORTED: Record<string, Inert> = {
  // The deprecated pre-tools form; `tools` replaces it.
  functions: emptyArray,
  function_call: oneOf('none'),
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
  const tools = parseTools(body);
  const toolChoice = parseToolChoice(body, tools);
  const responseFormat = parseResponseFormat(body);
  const sampling = parseSampling(body, maxTokens);
  const logprobs = optionalBoolean(body, 'logprobs') ?? false;
  const top = optionalInteger(body, 'top_logprobs', 0, 20);
  if (top !== undefined && !logprobs) throw invalid('top_logprobs', "'top_logprobs' needs 'logprobs': true");
  if (logprobs) sampling.logprobs = top ?? 0;
  const grammar = formatGrammar(responseFormat);
  if (grammar) sampling.grammar = grammar;
  return {
    // Generated calls are one unless parallel ones are asked for explicitly: small models otherwise
    // keep adding calls to the array.
    model, messages, tools, toolChoice, parallelToolCalls: optionalBoolean(body, 'parallel_tool_calls') ?? false, responseFormat,
    n: parseChoiceCount(body), ...parseStreaming(body), sampling,
  };
}

export function parseTokenCountRequest(input: unknown): TokenCountRequest {
  const body = requireObject(input, 'body');
  return { model: requireModelName(body, 'model'), messages: parseMessages(body) };
}
