import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OpenAI-compatible upstream that starts every streamed answer and then holds it open until
 * the caller goes away: a request in flight whose length the test alone decides, on a real socket.
 */
export async function startHeldUpstream(t: { teardown(fn: () => unknown): void }) {
  const open = new Set<ServerResponse>();
  let closed = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = { id: 'held', object: 'chat.completion.chunk', created: 0, model: 'held', choices: [{ index: 0, delta: { role: 'assistant', content: 'Once' }, finish_reason: null }] };
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      open.add(res);
      res.on('close', () => { open.delete(res); closed++; });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { for (const res of open) res.destroy(); server.close(() => r()); }));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Answers held open right now. */
    get open() { return open.size; },
    /** Answers whose caller hung up. */
    get closed() { return closed; },
  };
}
