import { AutoModelForCausalLM, AutoTokenizer, TextStreamer, env } from '@huggingface/transformers';
import { basename, dirname } from 'node:path';
import { type Sample } from './stats.js';

/** transformers.js on the same model folder, called directly: the peer every figure is compared with. */
export async function loadPeer(modelDir: string, threads: number) {
  env.allowRemoteModels = false;
  env.localModelPath = dirname(modelDir) + '/';
  const name = basename(modelDir);
  const rss0 = process.memoryUsage().rss;
  const tokenizer = await AutoTokenizer.from_pretrained(name);
  const model = await AutoModelForCausalLM.from_pretrained(name, {
    dtype: 'fp32', device: 'cpu', session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  } as any);
  const memoryBytes = process.memoryUsage().rss - rss0;

  /** (a): one stream of exactly `tokens` greedy tokens; TTFT from the streamer's first text. */
  const single = async (prompt: string, tokens: number): Promise<Sample> => {
    const inputs = tokenizer(prompt);
    let ttftMs: number | null = null;
    const t0 = performance.now();
    const streamer = new (class extends TextStreamer {
      override on_finalized_text(text: string) {
        if (ttftMs === null && text.length > 0) ttftMs = performance.now() - t0;
      }
    })(tokenizer as any, { skip_prompt: true });
    const out = await model.generate({ ...inputs, max_new_tokens: tokens, min_new_tokens: tokens, do_sample: false, streamer } as any) as any;
    const seconds = (performance.now() - t0) / 1000;
    return { tokens: out.dims[1] - inputs.input_ids.dims[1], seconds, ttftMs };
  };

  /** (f): a static batch, left-padded, every row generating `tokens`. */
  const batch = async (prompts: string[], tokens: number): Promise<Sample> => {
    (tokenizer as any).padding_side = 'left';
    const inputs = tokenizer(prompts, { padding: true });
    const t0 = performance.now();
    const out = await model.generate({ ...inputs, max_new_tokens: tokens, min_new_tokens: tokens, do_sample: false } as any) as any;
    const seconds = (performance.now() - t0) / 1000;
    return { tokens: (out.dims[1] - inputs.input_ids.dims[1]) * prompts.length, seconds, ttftMs: null };
  };

  return { single, batch, memoryBytes, dispose: () => (model as any).dispose() };
}
