import type { ChatCompletion, ChatCompletionChunk } from '../../../protocol/chat.js';
import type { PredictResponse } from '../../../protocol/predict.js';
import type { AgentClient } from '../connect.js';
import { abortable } from './abortable.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | string;
  content: string;
  [key: string]: unknown;
}

/** Sampling and output settings, sent with every request of a ChatClient (per call overridable). */
export interface ChatSettings {
  temperature?: number;
  maxTokens?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop?: string | string[];
  frequencyPenalty?: number;
  presencePenalty?: number;
  /** OpenAI's `response_format` (`{type: 'json_object'}` or a JSON schema). */
  responseFormat?: Record<string, unknown>;
  /** OpenAI's `tools` and `tool_choice`. */
  tools?: unknown[];
  toolChoice?: unknown;
  /** Keep generating past the end-of-sequence token (Crucible extension). */
  ignoreEos?: boolean;
}

export interface CallOptions {
  signal?: AbortSignal;
}

/** The OpenAI body field of each setting. */
const FIELDS: Record<keyof ChatSettings, string> = {
  temperature: 'temperature', maxTokens: 'max_tokens', topP: 'top_p', topK: 'top_k', seed: 'seed', stop: 'stop',
  frequencyPenalty: 'frequency_penalty', presencePenalty: 'presence_penalty', responseFormat: 'response_format',
  tools: 'tools', toolChoice: 'tool_choice', ignoreEos: 'ignore_eos',
};

function wireSettings(s: ChatSettings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) if (v !== undefined && k in FIELDS) out[FIELDS[k as keyof ChatSettings]] = v;
  return out;
}

/**
 * Chat with one model variant, over whichever transport the manager uses. Streams are async
 * iterables: breaking out of the loop, or aborting `signal`, cancels the generation on the agent
 * (the model stays loaded).
 */
export class ChatClient {
  /** Settings every request carries; change them freely between calls. */
  settings: ChatSettings;

  constructor(private readonly client: AgentClient, readonly modelId: string, settings: ChatSettings = {}) {
    this.settings = { ...settings };
  }

  private body(messages: ChatMessage[], opts: ChatSettings) {
    return { model: this.modelId, messages, ...wireSettings({ ...this.settings, ...opts }) } as { model: string; messages: ChatMessage[] };
  }

  completeChat(messages: ChatMessage[], opts: CallOptions & ChatSettings = {}): Promise<ChatCompletion> {
    const { signal, ...settings } = opts;
    return this.client.chat(this.body(messages, settings), signal);
  }

  /** `chat.completion.chunk` objects as they are generated. */
  async *completeChatStreaming(messages: ChatMessage[], opts: CallOptions & ChatSettings = {}): AsyncIterable<ChatCompletionChunk> {
    const { signal, ...settings } = opts;
    yield* this.client.chatStream(this.body(messages, settings), signal);
  }

  async countTokens(messages: ChatMessage[], opts: CallOptions = {}): Promise<number> {
    return (await abortable(this.client.countTokens({ model: this.modelId, messages }), opts.signal)).tokenCount;
  }
}

/** An item for a predictive model: bytes and their media type. */
export interface PredictItem {
  contentType: 'image/png' | 'image/jpeg';
  data: Uint8Array;
}

export class PredictClient {
  constructor(private readonly client: AgentClient, readonly modelId: string) {}

  predict(items: PredictItem[], opts: CallOptions = {}): Promise<PredictResponse> {
    return this.client.predict({
      model: this.modelId,
      items: items.map((i) => ({ content_type: i.contentType, encoder: 'base64' as const, data: Buffer.from(i.data).toString('base64') })),
    }, opts.signal);
  }
}
