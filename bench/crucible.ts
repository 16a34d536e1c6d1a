import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpClient } from '../clients/typescript/http-client.js';
import { PipeClient } from '../clients/typescript/pipe-client.js';
import type { ChatCompletionChunk } from '../protocol/chat.js';
import type { ServiceFile } from '../protocol/models.js';
import { Engine } from '../workers/engine/engine.js';
import type { Sample } from './stats.js';

const AGENT = fileURLToPath(new URL('../agent/main.js', import.meta.url));

const body = (model: string, prompt: string, tokens: number, stream: boolean) => ({
  model, messages: [{ role: 'user', content: prompt }], temperature: 0, max_tokens: tokens, ignore_eos: true, stream,
  ...(stream ? { stream_options: { include_usage: true } } : {}),
});

/** (b): the engine in this process, no transport. */
export async function loadEngine(modelDir: string, threads: number, ep = 'cpu', deviceKv?: boolean) {
  const engine = await Engine.create({ modelDir, executionProvider: ep, intraOpThreads: threads, maxBatch: 8, prefillChunk: 128, deviceKv });
  const single = async (prompt: string, tokens: number): Promise<Sample> => {
    let ttftMs: number | null = null;
    let n = 0;
    const t0 = performance.now();
    await engine.generate({
      messages: [{ role: 'user', content: prompt }],
      sampling: { temperature: 0, topP: 1, topK: 0, presencePenalty: 0, frequencyPenalty: 0, maxTokens: tokens, stop: [], ignoreEos: true },
      cancel: new SharedArrayBuffer(4),
      emit: (e) => {
        if (e.type === 'delta' && ttftMs === null) ttftMs = performance.now() - t0;
        if (e.type === 'done') n = e.completionTokens;
      },
    });
    return { tokens: n, seconds: (performance.now() - t0) / 1000, ttftMs };
  };
  return { single, engine, release: () => engine.release() };
}

/** A real agent in its own process, on a temporary home whose cache links to the model folder. */
export async function startAgent(modelDir: string, threads: number, ep?: string) {
  const home = mkdtempSync(join(tmpdir(), 'crb-'));
  const models = join(home, 'cache', 'models');
  mkdirSync(models, { recursive: true });
  const name = basename(modelDir);
  symlinkSync(modelDir, join(models, name));
  const child: ChildProcess = spawn(process.execPath, [AGENT, '--home', home, '--threads', String(threads), '--max-batch', '8'], { stdio: 'ignore' });
  const file = join(home, 'service.json');
  for (let i = 0; i < 300 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
  const info = JSON.parse(readFileSync(file, 'utf8')) as ServiceFile;
  const url = info.endpoints[0];
  const loaded = await fetch(`${url}/openai/load/${name}${ep ? `?ep=${ep}` : ''}`);
  if (!loaded.ok) throw new Error(`loading ${name}${ep ? ` on ${ep}` : ''}: ${await loaded.text()}`);
  const pipe = await PipeClient.connect(info.pipeName);

  const httpClient = new HttpClient(url);

  /** Time to the first content and the completion tokens of one stream, through either client. */
  const measure = async (stream: AsyncIterable<ChatCompletionChunk>): Promise<Sample> => {
    const t0 = performance.now();
    let ttftMs: number | null = null;
    let n = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) ttftMs ??= performance.now() - t0;
      if (chunk.usage) n = chunk.usage.completion_tokens;
    }
    return { tokens: n, seconds: (performance.now() - t0) / 1000, ttftMs };
  };

  /** (c): one SSE stream through the HTTP client. */
  const http = (prompt: string, tokens: number) => measure(httpClient.chatStream(body(name, prompt, tokens, true)));

  /** (d): one stream over the pipe. */
  const viaPipe = (prompt: string, tokens: number) => measure(pipe.chatStream(body(name, prompt, tokens, true)));

  /** (e): concurrent HTTP streams, aggregate tokens per second over the wall time. */
  const concurrent = async (prompts: string[], tokens: number): Promise<Sample> => {
    const t0 = performance.now();
    const each = await Promise.all(prompts.map((p) => http(p, tokens)));
    return { tokens: each.reduce((s, e) => s + e.tokens, 0), seconds: (performance.now() - t0) / 1000, ttftMs: null };
  };

  const row = async () => ((await (await fetch(`${url}/openai/ps`)).json()) as { folder: string; memoryBytes: number | null; sessionMemoryBytes: number | null; executionProvider: string | null; kvCache: string | null }[])
    .find((m) => m.folder === name);
  /**
   * Time to first token of a conversation's first and second turn: the second resends the first
   * (a ~`words`-word opening and its answer) with a short new message, as chat clients do. `variant`
   * changes the opening's first words, so no run's first turn finds an earlier run's cached.
   */
  const secondTurn = async (words: number, variant = 0): Promise<{ firstMs: number; secondMs: number; cached: number }> => {
    const vocab = ['the', 'little', 'dog', 'ran', 'to', 'see', 'a', 'big', 'red', 'ball'];
    const opening = Array.from({ length: words }, (_, i) => vocab[(i + variant) % vocab.length]).join(' ');
    const turn = async (messages: { role: string; content: string }[]) => {
      const t0 = performance.now();
      let ttft: number | null = null;
      let text = '';
      let cached = 0;
      for await (const chunk of httpClient.chatStream({ ...body(name, '', 30, true), messages })) {
        const piece = chunk.choices[0]?.delta?.content;
        if (piece) { ttft ??= performance.now() - t0; text += piece; }
        cached = chunk.usage?.prompt_tokens_details?.cached_tokens ?? cached;
      }
      return { ttft: ttft ?? performance.now() - t0, text, cached };
    };
    const first = await turn([{ role: 'user', content: opening }]);
    const second = await turn([{ role: 'user', content: opening }, { role: 'assistant', content: first.text }, { role: 'user', content: 'And then?' }]);
    return { firstMs: first.ttft, secondMs: second.ttft, cached: second.cached };
  };

  const memoryBytes = async () => (await row())?.memoryBytes ?? null;
  /** The ONNX Runtime session's share: the weights as the runtime holds them, without the tokenizer. */
  const sessionBytes = async () => (await row())?.sessionMemoryBytes ?? null;

  const exited = new Promise((r) => child.once('exit', r));
  let stopped: Promise<void> | null = null;
  const stop = () => (stopped ??= (async () => {
    pipe.close();
    child.kill('SIGTERM');
    await exited;
    rmSync(home, { recursive: true, force: true });
  })());
  return { url, http, viaPipe, concurrent, secondTurn, memoryBytes, sessionBytes, row, stop };
}
