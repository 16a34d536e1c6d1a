/**
 * Readers for the HTTP API's two streaming bodies, shared by the clients, the external-model
 * proxy and the benchmark: server-sent events (chat) and newline-delimited JSON (downloads).
 */

/** Splits a byte stream at `separator`, yielding each complete piece as text. */
async function* pieces(body: AsyncIterable<Uint8Array>, separator: string): AsyncIterable<string> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const bytes of body) {
    buf += decoder.decode(bytes, { stream: true });
    let cut: number;
    while ((cut = buf.indexOf(separator)) !== -1) {
      yield buf.slice(0, cut);
      buf = buf.slice(cut + separator.length);
    }
  }
  buf += decoder.decode();
  if (buf.trim()) yield buf;
}

/** The `data:` payload of each server-sent event, ending at `[DONE]`. */
export async function* sseData(body: AsyncIterable<Uint8Array>): AsyncIterable<string> {
  for await (const event of pieces(body, '\n\n')) {
    const data = event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
    if (data === '[DONE]') return;
    if (data) yield data;
  }
}

/** Each non-empty line, parsed as JSON. */
export async function* ndjson(body: AsyncIterable<Uint8Array>): AsyncIterable<unknown> {
  for await (const line of pieces(body, '\n')) {
    if (line.trim()) yield JSON.parse(line);
  }
}

export const bodyOf = (res: Response) => res.body as unknown as AsyncIterable<Uint8Array>;
