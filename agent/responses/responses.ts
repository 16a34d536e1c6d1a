import type { ChatCompletionChunk, ChatCompletionRequest } from '../../protocol/chat.js';
import { CrucibleError, invalid, toCrucibleError } from '../../protocol/errors.js';
import {
  type ConversationItem, type DeletedResponse, type FollowQuery, type InputItemList, type InputItemsQuery, type ResponseObject,
  type ResponseRequest, type ResponseStreamEvent, newId,
} from '../../protocol/responses.js';
import type { Logger } from '../log.js';
import { dropOldest, toChatMessages } from './conversation.js';
import { ResponseAssembler } from './events.js';
import { LOCAL_OWNER, type ResponseStore, type StoredResponse } from './store.js';

type ChatStream = (req: ChatCompletionRequest, signal?: AbortSignal) => AsyncIterable<ChatCompletionChunk>;

/** A response being generated: its events so far, for followers (`GET ?stream=true`). */
interface Run {
  events: ResponseStreamEvent[];
  done: boolean;
  wake: Set<() => void>;
  abort: AbortController;
  /** What stops it: a cancel, a delete, or (in the foreground) the caller leaving. */
  signal: AbortSignal;
  assembler: ResponseAssembler;
  /** When it was created, in ms: retention removes the oldest first. */
  createdMs: number;
  /** Who created it: nobody else may see it. */
  owner: string;
  ended: Promise<void>;
}

/** Finished runs whose events stay followable; older ones can still be retrieved, not replayed. */
const KEPT_RUNS = 64;
/** Most stored responses one conversation may chain through `previous_response_id`. */
export const MAX_CHAIN = 1000;

const notFound = (id: string, param: string | null = null) => new CrucibleError('not_found', `No response found with id '${id}'.`, param);

/**
 * The Responses API over the agent's chat operation: a request's conversation (the stored chain
 * behind `previous_response_id`, then its own input) becomes chat messages, the chat stream
 * becomes Responses events, and the result is stored. Generation is never done here. Every
 * stored response belongs to the principal that created it (`owner`): to anyone else it does not
 * exist (404), whether they read, follow, cancel, delete or continue from it.
 */
export class Responses {
  private readonly runs = new Map<string, Run>();

  constructor(private readonly chatStream: ChatStream, private readonly store: ResponseStore, private readonly log: Logger) {
    // A run that was in flight when the last process stopped can never finish.
    for (const s of store.interrupted()) {
      s.response.status = 'failed';
      s.response.error = { code: 'server_error', message: 'the service stopped before this response finished' };
      store.update(s);
    }
  }

  /** A stored response, if it exists and is the owner's. */
  private stored(id: string, owner: string): StoredResponse | null {
    const s = this.store.get(id);
    return s && (s.owner ?? LOCAL_OWNER) === owner ? s : null;
  }

  /** A run held in memory, if it is the owner's. */
  private run(id: string, owner: string): Run | undefined {
    const run = this.runs.get(id);
    return run?.owner === owner ? run : undefined;
  }

  /** The stored items that come before this turn, oldest first. */
  private history(previousId: string | null, owner: string): ConversationItem[] {
    const items: ConversationItem[] = [];
    let id = previousId;
    for (let depth = 0; id; depth++) {
      if (depth >= MAX_CHAIN) throw invalid('previous_response_id', `a conversation may chain at most ${MAX_CHAIN} responses`);
      const s = this.stored(id, owner);
      if (!s) throw notFound(id, 'previous_response_id');
      if (s.response.status === 'in_progress' || s.response.status === 'queued') {
        throw invalid('previous_response_id', `response '${id}' has not finished; continue from it once it has`);
      }
      items.unshift(...s.input, ...s.response.output);
      id = s.response.previous_response_id;
    }
    return items;
  }

  private baseResponse(req: ResponseRequest, createdMs: number): ResponseObject {
    return {
      id: newId('resp'), object: 'response', created_at: Math.floor(createdMs / 1000), completed_at: null, status: 'in_progress',
      background: req.background, error: null, incomplete_details: null, instructions: req.instructions,
      max_output_tokens: req.maxOutputTokens, model: req.model, output: [], parallel_tool_calls: req.parallelToolCalls,
      previous_response_id: req.previousResponseId, store: req.store, temperature: req.temperature, top_p: req.topP,
      text: req.text, tool_choice: req.toolChoice, tools: req.tools, truncation: req.truncation, usage: null, metadata: req.metadata,
    };
  }

  /**
   * Starts the chat stream and pulls its first chunk, so a refused request (unknown model, too
   * long a context) rejects before any event. With `truncation: auto` a context that does not
   * fit loses its oldest turns until it does.
   */
  private async open(req: ResponseRequest, response: ResponseObject, signal: AbortSignal, owner: string) {
    let items = [...this.history(req.previousResponseId, owner), ...req.input];
    let dropped = 0;
    for (;;) {
      const chat: ChatCompletionRequest = { ...req.chat, messages: toChatMessages(req.instructions, items) };
      const it = this.chatStream(chat, signal)[Symbol.asyncIterator]();
      try {
        const first = await it.next();
        response.model = first.done ? response.model : first.value.model;
        if (req.truncation === 'auto') response.truncated_items = dropped;
        return { it, first };
      } catch (err) {
        const e = toCrucibleError(err);
        if (e.code !== 'context_length_exceeded') throw e;
        if (req.truncation === 'auto' && items.length > 1) {
          const less = dropOldest(items);
          items = less.items;
          dropped += less.dropped;
          continue;
        }
        const hint = req.truncation === 'auto' ? ' even with only the newest item' : "; set 'truncation': 'auto' to drop the oldest items";
        throw new CrucibleError('context_length_exceeded', `${e.message.replace(/\.$/, '').replace('the messages take', 'the input takes').replace('max_tokens', 'max_output_tokens')}${hint}`,
          e.param === 'max_tokens' ? 'max_output_tokens' : 'input');
      }
    }
  }

  /** Drives one run to its end, recording every event; never throws. */
  private async drive(run: Run, req: ResponseRequest, opened: Awaited<ReturnType<Responses['open']>>): Promise<void> {
    const a = run.assembler;
    const emit = (events: ResponseStreamEvent[]) => {
      run.events.push(...events);
      for (const w of run.wake) w();
    };
    try {
      for (let r = opened.first; !r.done; r = await opened.it.next()) emit(a.chunk(r.value));
      emit(a.finish());
    } catch (err) {
      const e = toCrucibleError(err);
      if (run.signal.aborted && (e.code === 'cancelled' || e.code === 'shutting_down')) a.cancel();
      else emit(a.fail(e));
      this.log.info({ response: a.response.id, status: a.response.status, error: e.code }, 'response ended early');
    } finally {
      await opened.it.return?.();
      if (req.store) this.store.put({ response: a.response, input: req.input, owner: run.owner }, run.createdMs);
      run.done = true;
      for (const w of run.wake) w();
      this.forgetOldRuns();
    }
  }

  private forgetOldRuns(): void {
    const finished = [...this.runs].filter(([, r]) => r.done);
    for (const [id] of finished.slice(0, Math.max(0, finished.length - KEPT_RUNS))) this.runs.delete(id);
  }

  /** A run's events after `after`, following it until it ends. */
  private async *follow(run: Run, after = -1): AsyncGenerator<ResponseStreamEvent> {
    let next = after + 1;
    for (;;) {
      while (next < run.events.length) yield run.events[next++];
      if (run.done) return;
      await new Promise<void>((resolve) => {
        const wake = () => { run.wake.delete(wake); resolve(); };
        run.wake.add(wake);
      });
    }
  }

  /**
   * Starts a response. In the foreground its events are produced as the caller reads them and a
   * caller that leaves (`signal`) cancels it; in the background it runs on its own and the caller
   * reads a copy of its events, so leaving cancels nothing.
   */
  private async start(req: ResponseRequest, signal: AbortSignal | undefined, owner: string): Promise<{ run: Run; events: AsyncGenerator<ResponseStreamEvent> }> {
    const createdMs = Date.now();
    const response = this.baseResponse(req, createdMs);
    const abort = new AbortController();
    const runSignal = req.background || !signal ? abort.signal : AbortSignal.any([abort.signal, signal]);
    const opened = await this.open(req, response, runSignal, owner);
    const assembler = new ResponseAssembler(response);
    const run: Run = { events: assembler.start(), done: false, wake: new Set(), abort, signal: runSignal, assembler, createdMs, owner, ended: Promise.resolve() };
    if (req.store) {
      this.runs.set(response.id, run);
      if (req.background) this.store.put({ response, input: req.input, owner }, createdMs);
    }
    if (req.background) {
      run.ended = this.drive(run, req, opened);
      return { run, events: this.follow(run) };
    }
    // Foreground: the run advances only as its reader pulls, so a reader that stops stops it.
    const self = this;
    async function* foreground(): AsyncGenerator<ResponseStreamEvent> {
      const driving = self.drive(run, req, opened);
      run.ended = driving;
      try {
        yield* self.follow(run);
      } finally {
        if (!run.done) abort.abort();
        await driving;
      }
    }
    return { run, events: foreground() };
  }

  async create(req: ResponseRequest, signal?: AbortSignal, owner = LOCAL_OWNER): Promise<ResponseObject> {
    const { run, events } = await this.start(req, signal, owner);
    if (req.background) {
      void events.return(undefined);
      return structuredClone(run.assembler.response);
    }
    for await (const e of events) void e; // the run records its own result
    return run.assembler.response;
  }

  async *createStream(req: ResponseRequest, signal?: AbortSignal, owner = LOCAL_OWNER): AsyncGenerator<ResponseStreamEvent> {
    const { events } = await this.start(req, signal, owner);
    yield* events;
  }

  async get(id: string, owner = LOCAL_OWNER): Promise<ResponseObject> {
    const run = this.run(id, owner);
    if (run && !run.done) return structuredClone(run.assembler.response);
    const s = this.stored(id, owner);
    if (!s) throw notFound(id);
    return s.response;
  }

  /** `GET /v1/responses/{id}?stream=true`: the events after `startingAfter`, live while it runs. */
  async *stream(q: FollowQuery, owner = LOCAL_OWNER): AsyncGenerator<ResponseStreamEvent> {
    const run = this.run(q.id, owner);
    if (!run) {
      if (!this.stored(q.id, owner)) throw notFound(q.id);
      throw invalid('stream', `the events of response '${q.id}' are no longer held; retrieve it without 'stream'`);
    }
    yield* this.follow(run, q.startingAfter);
  }

  async delete(id: string, owner = LOCAL_OWNER): Promise<DeletedResponse> {
    const run = this.run(id, owner);
    if (!run && !this.stored(id, owner)) throw notFound(id);
    if (run && !run.done) {
      run.abort.abort();
      await run.ended;
    }
    this.runs.delete(id);
    if (!this.store.delete(id)) throw notFound(id);
    return { id, object: 'response.deleted', deleted: true };
  }

  /** Cancels a background response; one that has already ended is returned as it is. */
  async cancel(id: string, owner = LOCAL_OWNER): Promise<ResponseObject> {
    const run = this.run(id, owner);
    const stored = run ? run.assembler.response : this.stored(id, owner)?.response;
    if (!stored) throw notFound(id);
    if (!stored.background) throw invalid('id', `only background responses can be cancelled; '${id}' was not created with 'background': true`);
    if (run && !run.done) {
      run.abort.abort();
      await run.ended;
    }
    return this.get(id, owner);
  }

  async inputItems(q: InputItemsQuery, owner = LOCAL_OWNER): Promise<InputItemList> {
    const s = this.stored(q.id, owner);
    if (!s) throw notFound(q.id);
    const all = q.order === 'desc' ? [...s.input].reverse() : s.input;
    let start = 0;
    if (q.after !== undefined) {
      start = all.findIndex((i) => i.id === q.after) + 1;
      if (start === 0) throw invalid('after', `'after' names '${q.after}', which is not an input item of '${q.id}'`);
    }
    const data = all.slice(start, start + q.limit);
    return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: start + q.limit < all.length };
  }

  close(): void {
    this.store.close();
  }
}
