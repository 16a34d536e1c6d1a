import { createInterface } from 'node:readline';
import type { AgentClient } from '../typescript/connect.js';
import { EmbeddingClient } from '../typescript/sdk/embedding-client.js';

/** Texts from the command line, else one per line of standard input (blank lines skipped). */
async function inputsOf(texts: string[]): Promise<string[]> {
  if (texts.length > 0 || process.stdin.isTTY) return texts;
  const lines: string[] = [];
  for await (const line of createInterface({ input: process.stdin })) if (line.trim() !== '') lines.push(line);
  return lines;
}

/**
 * `crucible embed <model> [text...] [--dimensions N] [--json]`: one JSON array of floats a line,
 * in input order (all inputs in one request, so one batch); `--json` prints
 * `{model, prompt_tokens, embeddings}` instead.
 */
export async function embedCommand(c: AgentClient, model: string | undefined, texts: string[], opts: { dimensions?: string; json?: boolean }): Promise<number> {
  const usage = () => {
    console.error('usage: crucible embed <model> <text>... [--dimensions N] [--json]   (or texts one a line on stdin)');
    return 2;
  };
  if (!model) return usage();
  const inputs = await inputsOf(texts);
  if (inputs.length === 0) return usage();
  const client = new EmbeddingClient(c, model, opts.dimensions ? { dimensions: Number(opts.dimensions) } : {});
  const r = await client.embed(inputs);
  if (opts.json) {
    console.log(JSON.stringify({ model: r.model, prompt_tokens: r.promptTokens, embeddings: r.vectors.map((v) => Array.from(v)) }));
  } else {
    for (const v of r.vectors) console.log(JSON.stringify(Array.from(v)));
  }
  return 0;
}
