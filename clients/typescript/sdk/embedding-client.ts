import type { EmbeddingResponse } from '../../../protocol/embeddings.js';
import type { AgentClient } from '../connect.js';
import type { CallOptions } from './chat-client.js';

export interface EmbeddingSettings {
  /** Truncate each vector to this many dimensions and re-normalize (models that declare Matryoshka vectors). */
  dimensions?: number;
}

export interface Embeddings {
  model: string;
  /** One vector per input, in input order. */
  vectors: Float32Array[];
  /** Tokens the model read, special tokens included. */
  promptTokens: number;
}

/** OpenAI's base64 form (little-endian float32) as a vector, on any host byte order. */
export function fromBase64(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from({ length: bytes.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

/**
 * Sentence vectors from one model (an encoder export, Foundry's embedding layout, or a chat
 * model's hidden states), over whichever transport the manager uses. Vectors travel as base64
 * float32, so they arrive bit for bit as the model made them.
 */
export class EmbeddingClient {
  settings: EmbeddingSettings;

  constructor(private readonly client: AgentClient, readonly modelId: string, settings: EmbeddingSettings = {}) {
    this.settings = { ...settings };
  }

  /** Vectors of several texts (or token-id arrays), batched by the model's worker. */
  async embed(input: string | string[] | number[][], opts: CallOptions & EmbeddingSettings = {}): Promise<Embeddings> {
    const dimensions = opts.dimensions ?? this.settings.dimensions;
    const r: EmbeddingResponse = await this.client.embeddings({
      model: this.modelId, input, encoding_format: 'base64', ...(dimensions !== undefined ? { dimensions } : {}),
    }, opts.signal);
    return {
      model: r.model,
      vectors: r.data.sort((a, b) => a.index - b.index).map((d) => (typeof d.embedding === 'string' ? fromBase64(d.embedding) : Float32Array.from(d.embedding))),
      promptTokens: r.usage.prompt_tokens,
    };
  }

  /** The vector of one text. */
  async embedOne(text: string, opts: CallOptions & EmbeddingSettings = {}): Promise<Float32Array> {
    return (await this.embed([text], opts)).vectors[0];
  }
}
