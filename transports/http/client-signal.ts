/** An AbortController that fires when the HTTP client goes away. */
export function clientSignal(req: Request): AbortController {
  const ac = new AbortController();
  if (req.signal.aborted) ac.abort();
  else req.signal.addEventListener('abort', () => ac.abort(), { once: true });
  return ac;
}
