/**
 * transformers.js (the reference) on the repo's Whisper fixture, from local files only: its
 * WhisperFeatureExtractor, its model's generate and its automatic-speech-recognition pipeline.
 */
import { basename, dirname } from 'node:path';
import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';
import { WhisperModel } from '../../workers/speech/whisper-model.js';
import { Transcriber } from '../../workers/speech/transcribe.js';

export async function reference(hfDir: string) {
  const tjs = await import('@huggingface/transformers');
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  tjs.env.localModelPath = `${dirname(hfDir)}/`;
  const name = basename(hfDir);
  const processor = await tjs.AutoProcessor.from_pretrained(name);
  const asr = await tjs.pipeline('automatic-speech-recognition', name, { dtype: 'fp32' }) as any;
  const features = async (audio: Float32Array): Promise<Float32Array> => (await processor(audio)).input_features.data as Float32Array;
  return {
    features,
    /** One window's tokens after `prefix`, without the closing <|endoftext|> (generate without its seek loop). */
    async window(audio: Float32Array, prefix: number[]): Promise<number[]> {
      const inputs = (await processor(audio)).input_features;
      const out = await asr.model.generate({ inputs, decoder_input_ids: prefix, return_timestamps: true, max_new_tokens: 448 - prefix.length });
      const tokens = (out.tolist()[0] as bigint[]).map(Number).slice(prefix.length);
      const eot = asr.model.generation_config.eos_token_id;
      return tokens.at(-1) === eot ? tokens.slice(0, -1) : tokens;
    },
    /** The pipeline's answer with return_timestamps, and the tokens its model.generate returned. */
    async pipeline(audio: Float32Array, language = 'en'): Promise<{ text: string; chunks: { text: string; timestamp: [number, number] }[]; tokens: number[] }> {
      const generate = asr.model.generate;
      let tokens: number[] = [];
      asr.model.generate = async (o: unknown) => {
        const r = await generate.call(asr.model, o);
        tokens = (r.tolist()[0] as bigint[]).map(Number);
        return r;
      };
      try {
        const out = await asr(audio, { return_timestamps: true, language });
        return { ...out, tokens };
      } finally {
        asr.model.generate = generate;
      }
    },
    dispose: () => asr.dispose(),
  };
}

/** Crucible's transcriber on a folder, in this thread (the same code the speech worker runs). */
export async function transcriber(dir: string): Promise<{ t: Transcriber; tokenizer: Tokenizer; close: () => Promise<void> }> {
  const model = await WhisperModel.load(dir, 1);
  const tok = new Tokenizer(JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')), JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8')));
  return { t: new Transcriber(model, tok), tokenizer: tok, close: () => model.close() };
}
