import type { ServerResponse } from 'node:http';
import type { Context } from 'hono';
import { stream as streamBody, streamSSE } from 'hono/streaming';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { CrucibleError } from '../../protocol/errors.js';
import { drained } from '../drain.js';
import { corsHeadersOf } from './middleware.js';

/**
 * Writes an iterator of JSON events as server-sent events ending with `data: [DONE]`, each
 * preceded by an `event:` line when `eventOf` names it (the Responses API's typed events); an error
 * after the first event becomes a final `data: {"error": ...}`. `first` was pulled before the
 * response started, so errors before it keep their status code.
 *
 * Under @hono/node-server the frames go straight to the Node response: one write per event, no
 * web-stream bridge, which per-token streaming spends most of its transport time in. Elsewhere
 * (app.request() in tests, other runtimes) Hono's streamSSE does the same job.
 */
export function writeSse<T>(c: Context, first: IteratorResult<T>, it: AsyncIterator<T>, ac: AbortController, eventOf?: (value: T) => string): Response | Promise<Response> {
  const out = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  const errorFrame = (err: unknown) => {
    const e = err instanceof CrucibleError ? err : new CrucibleError('internal_error', (err as Error).message);
    return JSON.stringify({ error: e.toBody() });
  };
  if (!out) {
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => ac.abort());
      try {
        for (let r = first; !r.done; r = await it.next()) {
          if (stream.aborted) break;
          await stream.writeSSE({ data: JSON.stringify(r.value), ...(eventOf ? { event: eventOf(r.value) } : {}) });
        }
        if (!stream.aborted) await stream.writeSSE({ data: '[DONE]' });
      } catch (err) {
        if (!stream.aborted) await stream.writeSSE({ data: errorFrame(err) });
      } finally {
        ac.abort();
        await it.return?.();
      }
    });
  }
  const gone = startNodeStream(c, out, 'text/event-stream', ac, { connection: 'keep-alive' });
  void (async () => {
    try {
      for (let r = first; !r.done && !gone(); r = await it.next()) {
        const event = eventOf ? `event: ${eventOf(r.value)}\n` : '';
        if (!out.write(`${event}data: ${JSON.stringify(r.value)}\n\n`)) await drained(out);
      }
      if (!gone()) out.write('data: [DONE]\n\n');
    } catch (err) {
      if (!gone()) out.write(`data: ${errorFrame(err)}\n\n`);
    } finally {
      ac.abort();
      await it.return?.();
      out.end();
    }
  })();
  return RESPONSE_ALREADY_SENT;
}

/**
 * Writes each piece of `pieces` as its own write (its own HTTP chunk), each after the one before
 * has been handed to the socket: Foundry's SDK clients tell the result from the progress lines by
 * a chunk that starts with '{', so pieces must not merge. Under @hono/node-server the pieces go
 * straight to the Node response; elsewhere through Hono's stream helper.
 */
export function writeChunks(c: Context, contentType: string, pieces: AsyncIterator<string>, ac: AbortController): Response | Promise<Response> {
  const out = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  if (!out) {
    c.header('content-type', contentType);
    return streamBody(c, async (s) => {
      s.onAbort(() => ac.abort());
      try {
        for (let r = await pieces.next(); !r.done && !s.aborted; r = await pieces.next()) await s.write(r.value);
      } finally {
        await pieces.return?.();
      }
    });
  }
  const gone = startNodeStream(c, out, contentType, ac);
  void (async () => {
    try {
      for (let r = await pieces.next(); !r.done && !gone(); r = await pieces.next()) {
        await new Promise<void>((resolve) => out.write(r.value, () => resolve()));
      }
    } catch {
      // The producer failed after the head was sent: the body just ends.
    } finally {
      await pieces.return?.();
      out.end();
    }
  })();
  return RESPONSE_ALREADY_SENT;
}

/** Sends a streamed answer's head straight on the Node response; a client that goes away aborts `ac`. */
function startNodeStream(c: Context, out: ServerResponse, contentType: string, ac: AbortController, extra: Record<string, string> = {}): () => boolean {
  out.writeHead(200, {
    'content-type': contentType,
    'cache-control': 'no-cache',
    ...extra,
    'x-request-id': String(c.get('requestId') ?? ''),
    ...corsHeadersOf(c),
  });
  let gone = false;
  out.on('close', () => { gone = true; ac.abort(); });
  return () => gone;
}
