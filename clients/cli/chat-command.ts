import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { CrucibleError } from '../../protocol/errors.js';
import type { AgentClient } from '../typescript/connect.js';
import { downloadWithBar } from './model-commands.js';

export interface ChatOptions {
  maxTokens?: number;
  temperature?: number;
  ignoreEos?: boolean;
}

interface Message {
  role: 'user' | 'assistant';
  content: string;
}

/** Loads a model, downloading it first (with the progress bar) when only the catalog has it. */
async function loadOrDownload(c: AgentClient, name: string, log: (s: string) => void): Promise<string> {
  try {
    return (await c.load(name)).model;
  } catch (err) {
    if (!(err instanceof CrucibleError) || err.code !== 'model_not_found') throw err;
    // Not in the cache: the catalog may have it. If it does not either, the load's error stands.
    const id = await downloadWithBar(c, name).catch((e) => {
      throw e instanceof CrucibleError && e.code === 'model_not_found' ? err : e;
    });
    log(`Downloaded ${id}.`);
    return (await c.load(id)).model;
  }
}

/**
 * `crucible model run <model>`: `foundry model run`. Downloads the model if needed, loads it, and
 * chats: each line a turn, the history kept, the answer streamed. In a terminal Ctrl-C stops the
 * answer being written (at the prompt: twice to leave), `/clear` forgets the history and `/exit`
 * (or Ctrl-D) leaves. With piped input each line is answered in turn and only answers are printed.
 */
export async function modelRun(c: AgentClient, name: string, opts: ChatOptions,
  io: { input: Readable & { isTTY?: boolean }; output: Writable; errors: Writable } = { input: process.stdin, output: process.stdout, errors: process.stderr }): Promise<number> {
  if (!name) {
    io.errors.write('usage: crucible model run <model> [--max-tokens N] [--temperature T]\n');
    return 2;
  }
  const interactive = Boolean(io.input.isTTY);
  const log = (s: string) => io.errors.write(`${s}\n`);
  const model = await loadOrDownload(c, name, log);
  const out = io.output;
  let history: Message[] = [];
  let answering: AbortController | null = null;

  const answer = async (text: string) => {
    history.push({ role: 'user', content: text });
    const ac = new AbortController();
    answering = ac;
    let reply = '';
    let failed = false;
    try {
      const body = {
        model, messages: history,
        ...(opts.maxTokens !== undefined ? { max_tokens: opts.maxTokens } : {}),
        ...(opts.temperature !== undefined ? { temperature: opts.temperature } : {}),
        ...(opts.ignoreEos ? { ignore_eos: true } : {}),
      };
      for await (const chunk of c.chatStream(body, ac.signal)) {
        const delta = chunk.choices[0]?.delta.content;
        if (delta) {
          reply += delta;
          out.write(delta);
        }
      }
    } catch (err) {
      if (ac.signal.aborted) {
        if (interactive) out.write(' [stopped]');
      } else {
        failed = true;
        const e = err as CrucibleError;
        const hint = e.code === 'context_length_exceeded' ? ' (the conversation no longer fits the model\'s context: /clear starts over)' : '';
        (interactive ? out : io.errors).write(`${interactive ? '\n' : ''}error: ${e.message}${hint}\n`);
      }
    } finally {
      answering = null;
    }
    if (!failed) out.write('\n');
    // A turn that failed leaves no trace; a stopped one keeps what was said.
    if (failed || (!reply && ac.signal.aborted)) history.pop();
    else history.push({ role: 'assistant', content: reply });
  };

  const rl = createInterface({ input: io.input, output: interactive ? out : undefined, terminal: interactive, prompt: '> ' });
  if (interactive) {
    out.write(`Chatting with ${model}. /clear forgets the conversation, /exit leaves; Ctrl-C stops an answer.\n`);
    rl.prompt();
  }
  let armed = false;
  rl.on('SIGINT', () => {
    if (answering) {
      answering.abort();
      return;
    }
    if (rl.line.length > 0 || !armed) {
      armed = rl.line.length === 0;
      out.write(armed ? '\n(Ctrl-C again or /exit to leave)\n' : '\n');
      // Drop what was typed.
      (rl as unknown as { line: string }).line = '';
      rl.prompt();
      return;
    }
    rl.close();
  });

  // Lines are handled one after another, even when several arrive at once (piped input).
  let turns: Promise<void> = Promise.resolve();
  let leaving = false;
  await new Promise<void>((resolve) => {
    rl.on('line', (raw) => {
      armed = false;
      turns = turns.then(async () => {
        if (leaving) return;
        const line = raw.trim();
        if (line === '/exit' || line === '/quit') {
          leaving = true;
          rl.close();
          return;
        }
        if (line === '/clear') {
          history = [];
          if (interactive) out.write('Conversation cleared.\n');
        } else if (line) {
          await answer(line);
        }
        if (interactive && !leaving) rl.prompt();
      });
    });
    rl.on('close', () => {
      leaving = leaving || interactive;
      // Piped input ends with EOF: answer what was read first. A terminal leaves now.
      if (interactive) answering?.abort();
      void turns.then(() => resolve());
    });
  });
  if (interactive) out.write('\n');
  return 0;
}
