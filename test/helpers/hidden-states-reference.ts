import { cpSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withHiddenStates } from '../../workers/engine/embedder.js';
import { onnx } from '../../workers/optimize/onnx-graph.js';
import { STORIES } from './service.js';

/**
 * A folder transformers.js' feature-extraction pipeline loads as stories260K's hidden states: its
 * config and tokenizer, and as onnx/model.onnx the graph Crucible builds for embeddings
 * (workers/engine/embedder.ts: the output layer's input exposed as an extra output), that output
 * renamed `last_hidden_state` (the name transformers.js reads) by an Identity node.
 */
export function writeHiddenStatesReference(dir: string, src = STORIES): string {
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  for (const f of readdirSync(src)) if (f.endsWith('.json') && f !== 'crucible.json' && f !== 'genai_config.json') cpSync(join(src, f), join(dir, f));
  const model = onnx.ModelProto.decode(withHiddenStates(join(src, 'onnx', 'model.onnx'), 'logits'));
  const g = model.graph!;
  const hidden = g.output!.at(-1)!.name!;
  g.node!.push({ opType: 'Identity', input: [hidden], output: ['last_hidden_state'], name: 'expose_last_hidden_state' });
  g.output![g.output!.length - 1] = { name: 'last_hidden_state' };
  writeFileSync(join(dir, 'onnx', 'model.onnx'), onnx.ModelProto.encode(model).finish());
  return dir;
}
