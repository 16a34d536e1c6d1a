import { relative } from 'node:path';
import { CrucibleError } from '../../protocol/errors.js';
import type { EmbeddingWorkerInit, LoadedModelFacts } from '../../protocol/worker-messages.js';
import { Embedder } from '../engine/embedder.js';
import { readGraphFacts } from '../engine/graph-facts.js';
import { readModelSpec } from '../engine/model-spec.js';
import { TextCodec } from '../engine/text-codec.js';
import { Encoder } from './encoder.js';
import { detectEmbeddingModel, readEncoderSpec } from './spec.js';

type Vectors = { vectors: Float32Array[]; tokens: number };

/** An embedding model's session in its worker: an encoder export, or a GenAI decoder with `hidden_states`. */
export interface EmbeddingEngine {
  readonly facts: LoadedModelFacts;
  embed(inputs: (string | number[])[]): Promise<Vectors>;
}

export async function createEmbeddingEngine(init: EmbeddingWorkerInit): Promise<EmbeddingEngine> {
  const rss0 = process.memoryUsage().rss;
  const kind = detectEmbeddingModel(init.modelDir);
  if (kind === 'encoder') {
    const encoder = await Encoder.create(readEncoderSpec(init.modelDir, init.pooling), init.intraOpThreads);
    const facts: LoadedModelFacts = {
      ...encoder.facts, numLayers: 0, executionProvider: 'cpu', layout: 'hf', memoryBytes: Math.max(0, process.memoryUsage().rss - rss0),
      onnxFile: relative(init.modelDir, encoder.spec.onnxPath),
    };
    return { facts, embed: (inputs) => encoder.embed(inputs) };
  }
  if (kind === 'genai-decoder') {
    // Foundry's qwen3-embedding layout: the end token appended, the last position's final hidden
    // state, L2-normalized (crucible.json may ask for the mean instead).
    const spec = readModelSpec(init.modelDir, 'genai');
    const codec = new TextCodec(init.modelDir);
    const align = readGraphFacts(spec.onnxPath).attention === 'gqa' ? 'right' : 'left';
    const embedder = await Embedder.create(spec, init.intraOpThreads, align);
    const pooling = init.pooling === 'mean' ? 'mean' : 'last';
    if (init.pooling === 'cls') throw new CrucibleError('model_load_failed', 'a decoder has no CLS token to pool: use "pooling": "last" or "mean"');
    const facts: LoadedModelFacts = {
      contextLength: spec.contextLength, vocabSize: spec.vocabSize, numLayers: spec.numLayers, executionProvider: 'cpu', layout: 'genai',
      memoryBytes: Math.max(0, process.memoryUsage().rss - rss0), onnxFile: relative(init.modelDir, spec.onnxPath),
    };
    return {
      facts,
      embed: async (inputs) => {
        const rows = Embedder.rows(inputs, spec, (text) => codec.encodeText(text));
        const vectors: Float32Array[] = [];
        for (let i = 0; i < rows.length; i += 32) vectors.push(...await embedder.embed(rows.slice(i, i + 32), pooling));
        return { vectors, tokens: rows.reduce((s, r) => s + r.length, 0) };
      },
    };
  }
  throw new CrucibleError('model_load_failed', `${init.modelDir} is not an embedding model folder`);
}
