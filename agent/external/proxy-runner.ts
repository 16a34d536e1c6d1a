import type { ChatMessage, SamplingParams } from '../../protocol/chat.js';
import type { ExternalModel } from '../../protocol/catalog.js';
import { CrucibleError, fromErrorBody } from '../../protocol/errors.js';
import { bodyOf, sseData } from '../../protocol/http-streams.js';
import type { LoadedModelFacts, PromptInput, WorkerEvent } from '../../protocol/worker-messages.js';
import type { ChatRunner } from '../model-runner.js';

/** The OpenAI request fields for our sampling parameters. */
function openAiBody(model: string, messages: ChatMessage[], s: SamplingParams): Record<string, unknown> {
  return {
    model, messages, stream: true, stream_options: { include_usage: true },
    temperature: s.temperature, top_p: s.topP, presence_penalty: s.presencePenalty, frequency_penalty: s.frequencyPenalty,
    ...(s.topK > 0 ? { top_k: s.topK } : {}),
    ...(s.seed !== undefined ? { seed: s.seed } : {}),
    ...(s.maxTokens !== undefined ? { max_tokens: s.maxTokens } : {}),
    ...(s.stop.length > 0 ? { stop: s.stop } : {}),
    ...(s.ignoreEos ? { ignore_eos: true } : {}),
  };
}

/**
 * A registered OpenAI-compatible server in the place of a local worker: generations are proxied
 * (always streamed upstream) and turned into the same events a worker emits, so leases,
 * cancellation and both transports work unchanged.
 */
export class ProxyRunner implements ChatRunner {
  readonly kind = 'chat' as const;
  readonly facts: LoadedModelFacts = { contextLength: 0, vocabSize: 0, numLayers: 0, executionProvider: 'external', layout: 'hf', memoryBytes: 0 };

  constructor(private readonly model: ExternalModel) {}

  private async post(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.model.BaseUri}${path}`, {
        method: 'POST', signal, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
    } catch (err) {
      if (signal?.aborted) throw new CrucibleError('cancelled', 'the request was cancelled');
      throw new CrucibleError('upstream_error', `${this.model.BaseUri} is unreachable: ${(err as Error).message}`);
    }
    if (!res.ok) {
      const text = await res.text();
      try {
        const e = JSON.parse(text).error;
        if (e?.message) throw fromErrorBody(e);
      } catch (err) {
        if (err instanceof CrucibleError) throw err;
      }
      throw new CrucibleError('upstream_error', `${this.model.BaseUri} answered HTTP ${res.status}: ${text.slice(0, 200)}`);
    }
    return res;
  }

  async embed(): Promise<{ vectors: Float32Array[]; tokens: number }> {
    throw new CrucibleError('unsupported_parameter', `'${this.model.ModelName}' is an external model; embeddings are served for local models only`, 'model');
  }

  async countTokens(messages: ChatMessage[]): Promise<number> {
    const res = await this.post('/v1/chat/completions/tokenizer/encode/count', { model: this.model.ModelName, messages });
    const body = await res.json() as { tokenCount?: number };
    if (typeof body.tokenCount !== 'number') throw new CrucibleError('upstream_error', 'the external server cannot count tokens');
    return body.tokenCount;
  }

  async *generate(input: PromptInput, sampling: SamplingParams, signal?: AbortSignal): AsyncIterable<WorkerEvent> {
    // An upstream chat server takes raw text as one user message.
    const messages: ChatMessage[] = Array.isArray(input) ? input : 'text' in input ? [{ role: 'user', content: input.text }] : input.messages;
    let res: Response;
    try {
      res = await this.post('/v1/chat/completions', openAiBody(this.model.ModelName, messages, sampling), signal);
    } catch (err) {
      yield { type: 'error', error: (err as CrucibleError).toBody?.() ?? new CrucibleError('upstream_error', String(err)).toBody() };
      return;
    }
    yield { type: 'start', promptTokens: 0 };
    let finish: 'stop' | 'length' = 'stop';
    let usage = { prompt_tokens: 0, completion_tokens: 0 };
    try {
      for await (const data of sseData(bodyOf(res))) {
        const chunk = JSON.parse(data);
        if (chunk.error) { yield { type: 'error', error: fromErrorBody(chunk.error).toBody() }; return; }
        const choice = chunk.choices?.[0];
        if (choice?.delta?.content) yield { type: 'delta', text: choice.delta.content };
        if (choice?.finish_reason === 'length') finish = 'length';
        if (chunk.usage) usage = chunk.usage;
      }
    } catch (err) {
      const code = signal?.aborted ? 'cancelled' : 'upstream_error';
      yield { type: 'error', error: new CrucibleError(code, signal?.aborted ? 'the request was cancelled' : `the external stream broke: ${(err as Error).message}`).toBody() };
      return;
    }
    yield { type: 'done', finishReason: finish, promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens };
  }

  async close(): Promise<void> {}
}
