/**
 * The console's client of the public HTTP API: every request carries the tab's API key when it has
 * one; a 401 asks for a key. The key lives only in this tab's sessionStorage.
 */
const KEY = 'crucible.apiKey';

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly code?: string) {
    super(message);
  }
}

let unauthorized: (message: string) => void = () => {};
export function onUnauthorized(fn: (message: string) => void): void {
  unauthorized = fn;
}

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/** The message of an error body in any of the service's shapes. */
async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text);
    const e = body.error ?? body;
    const message = typeof e === 'string' ? e : e.message ?? body.detail ?? text;
    return new ApiError(res.status, String(message), e.code ?? body.code);
  } catch {
    return new ApiError(res.status, text || `${res.status} ${res.statusText}`);
  }
}

/** fetch with the key; non-2xx answers throw an ApiError with the service's message. */
export async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const key = apiKey();
  if (key) headers.set('authorization', `Bearer ${key}`);
  if (typeof init.body === 'string' && !headers.has('content-type')) headers.set('content-type', 'application/json');
  const res = await fetch(path, { ...init, headers });
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401) unauthorized(key ? 'The key was refused.' : '');
    throw err;
  }
  return res;
}

export async function getJson<T>(path: string, init?: RequestInit): Promise<T> {
  return (await call(path, init)).json() as Promise<T>;
}

export async function postJson<T>(path: string, body: unknown, init: RequestInit = {}): Promise<T> {
  return (await call(path, { ...init, method: 'POST', body: JSON.stringify(body) })).json() as Promise<T>;
}

/** The lines of a streamed body, as they arrive. */
export async function* lines(res: Response): AsyncGenerator<string> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i: number;
      while ((i = buf.indexOf('\n')) !== -1) {
        yield buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
      }
    }
    if (buf) yield buf;
  } finally {
    reader.releaseLock();
  }
}

/** The `data:` payloads of a server-sent event stream. */
export async function* sseData(res: Response): AsyncGenerator<string> {
  let data: string[] = [];
  for await (const line of lines(res)) {
    if (line === '') {
      if (data.length) yield data.join('\n');
      data = [];
    } else if (line.startsWith('data:')) {
      data.push(line.slice(5).replace(/^ /, ''));
    }
  }
  if (data.length) yield data.join('\n');
}

/** The service's shapes, from the repository's protocol/ (types only: nothing of it runs here). */
export type { ModelInfo } from '../../../protocol/models.js';
export type { CatalogListing, DownloadProgress } from '../../../protocol/catalog.js';
export type { ChatCompletionChunk } from '../../../protocol/chat.js';
export type { MetricsFrame } from '../../../protocol/metrics-feed.js';

/** `POST /v1/predict`'s OCR answer (protocol/predict.ts, which needs Node's Buffer to compile). */
export interface OcrPrediction {
  lines: { text: string; confidence: number; box: [number, number][]; detectionScore: number }[];
  text: string;
}
