import { randomBytes } from 'node:crypto';
import { type ChatCompletionRequest, parseChatCompletionRequest } from './chat.js';
import { CrucibleError, invalid, unsupported } from './errors.js';
import {
  type Inert, type Json, emptyArray, emptyObject, isNullish, oneOf, optionalBoolean, optionalInteger,
  refuseUnsupported, requireModelName, requireObject,
} from './validate.js';

/**
 * OpenAI's Responses API (`/v1/responses`): every request, item, response and stream-event
 * shape, and their parsers. A request becomes a chat request: the chat parser validates its
 * tools, tool choice, format and sampling, so both APIs accept and refuse the same things.
 */

export type MessageRole = 'user' | 'system' | 'developer' | 'assistant';

export interface TextPart { type: 'input_text' | 'output_text'; text: string }

/** An input message as stored and listed (`input_items`). */
export interface InputMessage { id: string; type: 'message'; role: MessageRole; content: TextPart[]; status: 'completed' }

export interface FunctionCallItem { id: string; type: 'function_call'; call_id: string; name: string; arguments: string; status: 'completed' | 'in_progress' | 'incomplete' }

export interface FunctionCallOutputItem { id: string; type: 'function_call_output'; call_id: string; output: string; status: 'completed' }

export interface OutputText { type: 'output_text'; text: string; annotations: []; logprobs: [] }

export interface OutputMessage { id: string; type: 'message'; role: 'assistant'; status: 'completed' | 'in_progress' | 'incomplete'; content: OutputText[] }

export type InputItem = InputMessage | FunctionCallItem | FunctionCallOutputItem;
export type OutputItem = OutputMessage | FunctionCallItem;
/** What a conversation is made of: inputs, and earlier outputs replayed as context. */
export type ConversationItem = InputItem | OutputItem;

/** A function tool as the Responses API writes it (flat, unlike chat's `{function: {...}}`). */
export interface FunctionTool { type: 'function'; name: string; description: string | null; parameters: Record<string, unknown>; strict: boolean }

export type ResponseToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; name: string };

export type TextFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; schema: Record<string, unknown> | boolean; strict: boolean; description?: string };

export type ResponseStatus = 'completed' | 'incomplete' | 'in_progress' | 'queued' | 'cancelled' | 'failed';

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** The `response` object. */
export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  completed_at: number | null;
  status: ResponseStatus;
  background: boolean;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' | 'content_filter' } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  model: string;
  output: OutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  store: boolean;
  temperature: number;
  top_p: number;
  text: { format: TextFormat };
  tool_choice: ResponseToolChoice;
  tools: FunctionTool[];
  truncation: 'disabled' | 'auto';
  usage: ResponseUsage | null;
  metadata: Record<string, string>;
  /** Crucible's own: how many of the oldest context items `truncation: auto` left out. */
  truncated_items?: number;
}

/** The stream events, each numbered by `sequence_number` from 0. */
export type ResponseStreamEvent =
  | { type: 'response.created' | 'response.in_progress' | 'response.completed' | 'response.incomplete' | 'response.failed'; sequence_number: number; response: ResponseObject }
  | { type: 'response.output_item.added' | 'response.output_item.done'; sequence_number: number; output_index: number; item: OutputItem }
  | { type: 'response.content_part.added' | 'response.content_part.done'; sequence_number: number; item_id: string; output_index: number; content_index: number; part: OutputText }
  | { type: 'response.output_text.delta'; sequence_number: number; item_id: string; output_index: number; content_index: number; delta: string; logprobs: [] }
  | { type: 'response.output_text.done'; sequence_number: number; item_id: string; output_index: number; content_index: number; text: string; logprobs: [] }
  | { type: 'response.function_call_arguments.delta'; sequence_number: number; item_id: string; output_index: number; delta: string }
  | { type: 'response.function_call_arguments.done'; sequence_number: number; item_id: string; output_index: number; name: string; arguments: string };

/** A validated `POST /v1/responses` body (pipe op `responses.create`). */
export interface ResponseRequest {
  model: string;
  /** This turn's input, each item with its id. */
  input: InputItem[];
  instructions: string | null;
  tools: FunctionTool[];
  toolChoice: ResponseToolChoice;
  parallelToolCalls: boolean;
  text: { format: TextFormat };
  temperature: number;
  topP: number;
  maxOutputTokens: number | null;
  stream: boolean;
  store: boolean;
  background: boolean;
  previousResponseId: string | null;
  metadata: Record<string, string>;
  truncation: 'disabled' | 'auto';
  /** The chat request this turns into, less its messages (built from the conversation). */
  chat: Omit<ChatCompletionRequest, 'messages'>;
}

export interface DeletedResponse { id: string; object: 'response.deleted'; deleted: true }

export interface InputItemsQuery { id: string; limit: number; after?: string; order: 'asc' | 'desc' }

export interface InputItemList { object: 'list'; data: InputItem[]; first_id: string | null; last_id: string | null; has_more: boolean }

/** `GET /v1/responses/{id}?stream=true&starting_after=N`: follow a (background) response's events. */
export interface FollowQuery { id: string; stream: boolean; startingAfter?: number }

/** Most items one request's `input` may hold. */
export const MAX_INPUT_ITEMS = 1024;
/** Most metadata pairs, and their key and value lengths (OpenAI's limits). */
export const MAX_METADATA = 16;

export const newId = (prefix: string) => `${prefix}_${randomBytes(16).toString('hex')}`;

const ID = /^[A-Za-z0-9_-]{1,128}$/;

export function checkResponseId(id: unknown, param = 'id'): string {
  if (typeof id !== 'string' || !ID.test(id)) throw invalid(param, `'${param}' must be a response id like resp_...`);
  return id;
}

/** Known Responses fields that are not implemented, with the values that mean "not used". */
const RESPONSES_UNSUPPORTED: Record<string, Inert> = {
  include: emptyArray,
  reasoning: (v) => emptyObject(v) || (typeof v === 'object' && v !== null && Object.values(v).every(isNullish)),
  prompt: isNullish,
  conversation: isNullish,
  top_logprobs: oneOf(0),
  max_tool_calls: isNullish,
  service_tier: oneOf('auto', 'default'),
  stream_options: emptyObject,
  context_management: isNullish,
  prompt_cache_retention: isNullish,
  prompt_cache_options: isNullish,
};

/** Fields accepted as they are: they identify the caller and change nothing about the answer. */
const INERT_FIELDS = new Set(['user', 'safety_identifier', 'prompt_cache_key']);

const KNOWN_FIELDS = new Set([
  'model', 'input', 'instructions', 'tools', 'tool_choice', 'parallel_tool_calls', 'text', 'temperature', 'top_p',
  'max_output_tokens', 'stream', 'store', 'previous_response_id', 'metadata', 'background', 'truncation', 'seed',
  // Crucible's extension, as in chat: keep generating past end-of-text (benchmarks, tests).
  'ignore_eos',
  ...Object.keys(RESPONSES_UNSUPPORTED), ...INERT_FIELDS,
]);

function parseParts(value: unknown, path: string, role: MessageRole): TextPart[] {
  const type = role === 'assistant' ? 'output_text' : 'input_text';
  if (typeof value === 'string') return [{ type, text: value }];
  if (!Array.isArray(value)) throw invalid(path, `'${path}' must be a string or an array of content parts`);
  return value.map((p, i) => {
    const part = requireObject(p, `${path}[${i}]`);
    // Assistant turns replayed by clients carry their output_text parts back.
    if ((part.type === 'input_text' || part.type === 'output_text') && typeof part.text === 'string') return { type, text: part.text };
    if (part.type === 'input_image' || part.type === 'input_file' || part.type === 'input_audio') {
      throw unsupported(`${path}[${i}].type`, `'${part.type}' parts are not supported: the models here read text only`);
    }
    throw invalid(`${path}[${i}]`, `'${path}[${i}]' must be an input_text part {"type":"input_text","text":...}`);
  });
}

function requireText(o: Json, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw invalid(path, `'${path}' is required and must be a string`);
  return v;
}

function parseItem(raw: unknown, path: string): InputItem {
  const o = requireObject(raw, path);
  const type = o.type ?? (o.role !== undefined ? 'message' : undefined);
  const id = typeof o.id === 'string' && ID.test(o.id) ? o.id : undefined;
  if (type === 'message') {
    const role = o.role;
    if (role !== 'user' && role !== 'system' && role !== 'developer' && role !== 'assistant') {
      throw invalid(`${path}.role`, `'${path}.role' must be one of user, system, developer, assistant`);
    }
    return { id: id ?? newId('msg'), type: 'message', role, content: parseParts(o.content, `${path}.content`, role), status: 'completed' };
  }
  if (type === 'function_call') {
    return {
      id: id ?? newId('fc'), type: 'function_call', call_id: requireText(o, 'call_id', `${path}.call_id`),
      name: requireText(o, 'name', `${path}.name`), arguments: requireText(o, 'arguments', `${path}.arguments`), status: 'completed',
    };
  }
  if (type === 'function_call_output') {
    let output = o.output;
    if (Array.isArray(output)) output = parseParts(output, `${path}.output`, 'user').map((p) => p.text).join('');
    if (typeof output !== 'string') throw invalid(`${path}.output`, `'${path}.output' must be a string`);
    return { id: id ?? newId('fco'), type: 'function_call_output', call_id: requireText(o, 'call_id', `${path}.call_id`), output, status: 'completed' };
  }
  if (typeof type === 'string') throw unsupported(`${path}.type`, `input items of type '${type}' are not supported; use message, function_call or function_call_output`);
  throw invalid(`${path}.type`, `'${path}.type' is required: message, function_call or function_call_output`);
}

function parseInput(body: Json): InputItem[] {
  const v = body.input;
  if (typeof v === 'string') return [{ id: newId('msg'), type: 'message', role: 'user', content: [{ type: 'input_text', text: v }], status: 'completed' }];
  if (!Array.isArray(v)) throw invalid('input', "'input' is required: a string or an array of input items");
  if (v.length > MAX_INPUT_ITEMS) throw invalid('input', `'input' holds at most ${MAX_INPUT_ITEMS} items`);
  return v.map((item, i) => parseItem(item, `input[${i}]`));
}

function parseTools(body: Json): FunctionTool[] {
  const v = body.tools;
  if (isNullish(v)) return [];
  if (!Array.isArray(v)) throw invalid('tools', "'tools' must be an array");
  return v.map((t, i) => {
    const tool = requireObject(t, `tools[${i}]`);
    if (tool.type !== 'function') {
      throw unsupported(`tools[${i}].type`, `hosted tool '${String(tool.type)}' is not supported; only function tools are`);
    }
    return {
      type: 'function',
      name: tool.name as string,
      description: typeof tool.description === 'string' ? tool.description : null,
      parameters: (isNullish(tool.parameters) ? { type: 'object', properties: {} } : tool.parameters) as Record<string, unknown>,
      strict: typeof tool.strict === 'boolean' ? tool.strict : true,
    };
  });
}

function parseToolChoice(v: unknown): ResponseToolChoice | undefined {
  if (isNullish(v)) return undefined;
  if (v === 'none' || v === 'auto' || v === 'required') return v;
  const o = requireObject(v, 'tool_choice');
  if (o.type === 'function' && typeof o.name === 'string') return { type: 'function', name: o.name };
  if (typeof o.type === 'string' && o.type !== 'function') throw unsupported('tool_choice', `'tool_choice' of type '${o.type}' is not supported; only function tools are`);
  throw invalid('tool_choice', "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"name\": ...}");
}

function parseTextFormat(body: Json): TextFormat {
  if (isNullish(body.text)) return { type: 'text' };
  const text = requireObject(body.text, 'text');
  refuseUnsupported(text, { verbosity: oneOf('medium') }, 'text.');
  if (isNullish(text.format)) return { type: 'text' };
  const f = requireObject(text.format, 'text.format');
  if (f.type === 'text' || f.type === 'json_object') return { type: f.type };
  if (f.type === 'json_schema') {
    if (isNullish(f.schema)) throw invalid('text.format.schema', "'text.format.schema' is required");
    return {
      type: 'json_schema', name: typeof f.name === 'string' && f.name ? f.name : 'response',
      schema: f.schema as Record<string, unknown> | boolean, strict: optionalBoolean(f, 'strict', 'text.format.strict') ?? false,
      ...(typeof f.description === 'string' ? { description: f.description } : {}),
    };
  }
  throw invalid('text.format.type', "'text.format.type' must be text, json_object or json_schema");
}

function parseMetadata(body: Json): Record<string, string> {
  if (isNullish(body.metadata)) return {};
  const m = requireObject(body.metadata, 'metadata');
  const entries = Object.entries(m);
  if (entries.length > MAX_METADATA) throw invalid('metadata', `'metadata' holds at most ${MAX_METADATA} pairs`);
  for (const [k, v] of entries) {
    if (k.length > 64) throw invalid('metadata', `metadata keys are at most 64 characters; '${k.slice(0, 20)}...' is longer`);
    if (typeof v !== 'string' || v.length > 512) throw invalid(`metadata.${k}`, `'metadata.${k}' must be a string of at most 512 characters`);
  }
  return m as Record<string, string>;
}

/** Chat-parser parameter names as the Responses request calls them. */
function renameParam(param: string | null): string | null {
  if (param === null) return null;
  if (param === 'max_completion_tokens' || param === 'max_tokens') return 'max_output_tokens';
  if (param === 'messages') return 'input';
  return param
    .replace(/^tools\[(\d+)\]\.function\./, 'tools[$1].')
    .replace(/^response_format\.json_schema\./, 'text.format.')
    .replace(/^response_format/, 'text.format');
}

/** Re-raises a chat-parser error under the Responses field's name. */
export function asResponsesError(err: unknown): unknown {
  if (!(err instanceof CrucibleError)) return err;
  const param = renameParam(err.param);
  if (param === err.param) return err;
  const message = err.message.replaceAll(`'${err.param}'`, `'${param}'`);
  return new CrucibleError(err.code, message, param);
}

export function parseResponseRequest(input: unknown): ResponseRequest {
  const body = requireObject(input, 'body');
  const model = requireModelName(body, 'model');
  for (const key of Object.keys(body)) {
    if (!KNOWN_FIELDS.has(key)) throw unsupported(key, `'${key}' is not a supported Responses API field; leave it out`);
  }
  refuseUnsupported(body, RESPONSES_UNSUPPORTED);
  const items = parseInput(body);
  const instructions = isNullish(body.instructions) ? null : body.instructions;
  if (instructions !== null && typeof instructions !== 'string') throw invalid('instructions', "'instructions' must be a string");
  const tools = parseTools(body);
  const toolChoice = parseToolChoice(body.tool_choice);
  const format = parseTextFormat(body);
  const store = optionalBoolean(body, 'store') ?? true;
  const background = optionalBoolean(body, 'background') ?? false;
  if (background && !store) throw invalid('background', "'background' needs 'store': a background response is only read back from the store");
  const truncation = isNullish(body.truncation) ? 'disabled' : body.truncation;
  if (truncation !== 'disabled' && truncation !== 'auto') throw invalid('truncation', "'truncation' must be disabled or auto");
  const previous = isNullish(body.previous_response_id) ? null : checkResponseId(body.previous_response_id, 'previous_response_id');

  // The chat body this request means: one parser validates tools, formats and sampling for both APIs.
  const chatBody: Json = {
    model,
    messages: [{ role: 'user', content: '' }],
    tools: tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description ?? undefined, parameters: t.parameters, strict: t.strict } })),
    tool_choice: toolChoice === undefined ? undefined : typeof toolChoice === 'object' ? { type: 'function', function: { name: toolChoice.name } } : toolChoice,
    parallel_tool_calls: body.parallel_tool_calls,
    response_format: format.type === 'json_schema'
      ? { type: 'json_schema', json_schema: { name: format.name, schema: format.schema, strict: format.strict } } : { type: format.type },
    temperature: body.temperature,
    top_p: body.top_p,
    seed: body.seed,
    max_completion_tokens: body.max_output_tokens,
    ignore_eos: body.ignore_eos,
    stream: true,
  };
  let chat: ChatCompletionRequest;
  try {
    chat = parseChatCompletionRequest(chatBody);
  } catch (err) {
    throw asResponsesError(err);
  }
  const { messages: _placeholder, ...rest } = chat;
  void _placeholder;
  return {
    model, input: items, instructions, tools, toolChoice: toolChoice ?? (tools.length > 0 ? 'auto' : 'none'),
    parallelToolCalls: chat.parallelToolCalls, text: { format }, temperature: chat.sampling.temperature, topP: chat.sampling.topP,
    maxOutputTokens: chat.sampling.maxTokens ?? null, stream: optionalBoolean(body, 'stream') ?? false, store, background,
    previousResponseId: previous, metadata: parseMetadata(body), truncation, chat: { ...rest, stream: true, includeUsage: true },
  };
}

export function parseInputItemsQuery(q: Json): InputItemsQuery {
  const id = checkResponseId(q.id);
  const limit = optionalInteger(q, 'limit', 1, 100) ?? 20;
  const order = isNullish(q.order) ? 'desc' : q.order;
  if (order !== 'asc' && order !== 'desc') throw invalid('order', "'order' must be asc or desc");
  const after = isNullish(q.after) ? undefined : checkResponseId(q.after, 'after');
  return { id, limit, order, ...(after ? { after } : {}) };
}

export function parseFollowQuery(q: Json): FollowQuery {
  const id = checkResponseId(q.id);
  const stream = optionalBoolean(q, 'stream') ?? false;
  const startingAfter = optionalInteger(q, 'starting_after', -1, Number.MAX_SAFE_INTEGER);
  if (startingAfter !== undefined && !stream) throw invalid('starting_after', "'starting_after' needs 'stream': true");
  refuseUnsupported(q, { include: emptyArray, include_obfuscation: oneOf(false) });
  return { id, stream, ...(startingAfter !== undefined ? { startingAfter } : {}) };
}
