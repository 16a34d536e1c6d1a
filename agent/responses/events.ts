import type { ChatCompletionChunk, Usage } from '../../protocol/chat.js';
import type { CrucibleError } from '../../protocol/errors.js';
import {
  type FunctionCallItem, type OutputMessage, type OutputText, type ResponseObject, type ResponseStreamEvent, newId,
} from '../../protocol/responses.js';

/** Event bodies before they are numbered. */
type Unnumbered = ResponseStreamEvent extends infer E ? E extends unknown ? Omit<E, 'sequence_number'> : never : never;

const clone = <T>(v: T): T => structuredClone(v);

/**
 * Turns one chat stream into a Responses stream: text becomes a `message` item with one
 * `output_text` part, each tool call a `function_call` item, each opened, filled by deltas and
 * closed in the order OpenAI sends them, every event numbered. It also keeps the response object
 * the events describe, so the final object and the stream can never disagree.
 */
export class ResponseAssembler {
  private seq = 0;
  private message: OutputMessage | null = null;
  private calls = new Map<number, { item: FunctionCallItem; index: number }>();

  constructor(readonly response: ResponseObject) {}

  private number(events: Unnumbered[]): ResponseStreamEvent[] {
    return events.map((e) => ({ ...e, sequence_number: this.seq++ }) as ResponseStreamEvent);
  }

  /** `response.created` and `response.in_progress`. */
  start(): ResponseStreamEvent[] {
    return this.number([
      { type: 'response.created', response: clone(this.response) },
      { type: 'response.in_progress', response: clone(this.response) },
    ]);
  }

  private openMessage(out: Unnumbered[]): OutputMessage {
    if (this.message) return this.message;
    const item: OutputMessage = { id: newId('msg'), type: 'message', role: 'assistant', status: 'in_progress', content: [] };
    this.response.output.push(item);
    const output_index = this.response.output.length - 1;
    out.push({ type: 'response.output_item.added', output_index, item: clone(item) });
    const part: OutputText = { type: 'output_text', text: '', annotations: [], logprobs: [] };
    item.content.push(part);
    out.push({ type: 'response.content_part.added', item_id: item.id, output_index, content_index: 0, part: clone(part) });
    this.message = item;
    return item;
  }

  private closeMessage(out: Unnumbered[], status: 'completed' | 'incomplete'): void {
    const item = this.message;
    if (!item) return;
    const output_index = this.response.output.indexOf(item);
    const part = item.content[0];
    out.push({ type: 'response.output_text.done', item_id: item.id, output_index, content_index: 0, text: part.text, logprobs: [] });
    out.push({ type: 'response.content_part.done', item_id: item.id, output_index, content_index: 0, part: clone(part) });
    item.status = status;
    out.push({ type: 'response.output_item.done', output_index, item: clone(item) });
    this.message = null;
  }

  private closeCalls(out: Unnumbered[], status: 'completed' | 'incomplete'): void {
    for (const { item, index } of this.calls.values()) {
      out.push({ type: 'response.function_call_arguments.done', item_id: item.id, output_index: index, name: item.name, arguments: item.arguments });
      item.status = status;
      out.push({ type: 'response.output_item.done', output_index: index, item: clone(item) });
    }
    this.calls.clear();
  }

  /** The events one chat chunk makes. */
  chunk(c: ChatCompletionChunk): ResponseStreamEvent[] {
    const out: Unnumbered[] = [];
    for (const choice of c.choices) {
      const d = choice.delta;
      if (d.content) {
        const item = this.openMessage(out);
        item.content[0].text += d.content;
        out.push({ type: 'response.output_text.delta', item_id: item.id, output_index: this.response.output.indexOf(item), content_index: 0, delta: d.content, logprobs: [] });
      }
      for (const t of d.tool_calls ?? []) {
        if (t.id) {
          // Text before a call is its own finished item.
          this.closeMessage(out, 'completed');
          const item: FunctionCallItem = { id: newId('fc'), type: 'function_call', status: 'in_progress', call_id: t.id, name: t.function.name ?? '', arguments: '' };
          this.response.output.push(item);
          const index = this.response.output.length - 1;
          this.calls.set(t.index, { item, index });
          out.push({ type: 'response.output_item.added', output_index: index, item: clone(item) });
        }
        const call = this.calls.get(t.index);
        if (call && t.function.arguments) {
          call.item.arguments += t.function.arguments;
          out.push({ type: 'response.function_call_arguments.delta', item_id: call.item.id, output_index: call.index, delta: t.function.arguments });
        }
      }
      if (choice.finish_reason) {
        const status = choice.finish_reason === 'length' ? 'incomplete' : 'completed';
        // A turn that produced nothing still answers with an (empty) message, as OpenAI's do.
        if (this.response.output.length === 0) this.openMessage(out);
        this.closeMessage(out, status);
        this.closeCalls(out, status);
        if (choice.finish_reason === 'length') this.response.incomplete_details = { reason: 'max_output_tokens' };
      }
    }
    if (c.usage) this.usage(c.usage);
    return this.number(out);
  }

  private usage(u: Usage & { prompt_tokens_details?: { cached_tokens?: number } }): void {
    this.response.usage = {
      input_tokens: u.prompt_tokens,
      // Prompt tokens whose KV came from a reused prefix, when the engine reports them.
      input_tokens_details: { cached_tokens: u.prompt_tokens_details?.cached_tokens ?? 0 },
      output_tokens: u.completion_tokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: u.total_tokens,
    };
  }

  /** The closing event: `response.completed`, or `response.incomplete` when the output was cut short. */
  finish(): ResponseStreamEvent[] {
    const out: Unnumbered[] = [];
    this.closeMessage(out, 'completed');
    this.closeCalls(out, 'completed');
    this.response.status = this.response.incomplete_details ? 'incomplete' : 'completed';
    this.response.completed_at = Math.floor(Date.now() / 1000);
    out.push({ type: this.response.status === 'incomplete' ? 'response.incomplete' : 'response.completed', response: clone(this.response) });
    return this.number(out);
  }

  /** `response.failed`, with the error that ended the generation. */
  fail(err: CrucibleError): ResponseStreamEvent[] {
    const out: Unnumbered[] = [];
    this.closeMessage(out, 'incomplete');
    this.closeCalls(out, 'incomplete');
    this.response.status = 'failed';
    this.response.error = { code: err.code === 'internal_error' ? 'server_error' : err.code, message: err.message };
    out.push({ type: 'response.failed', response: clone(this.response) });
    return this.number(out);
  }

  /** A cancelled response: open items end incomplete; no closing event (OpenAI sends none). */
  cancel(): void {
    this.closeMessage([], 'incomplete');
    this.closeCalls([], 'incomplete');
    this.response.status = 'cancelled';
  }
}
