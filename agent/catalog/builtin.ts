import { pathToFileURL } from 'node:url';
import type { CatalogEntry } from '../../protocol/catalog.js';
import { parseCatalogEntry } from '../../protocol/catalog.js';

const hf = (repo: string) => `https://huggingface.co/${repo}/resolve/main`;
const hfFiles = (onnx: string[]) => [
  { path: 'config.json' }, { path: 'generation_config.json' }, { path: 'tokenizer.json' }, { path: 'tokenizer_config.json' },
  ...onnx.map((path) => ({ path })),
];
const cpu = { deviceType: 'CPU', executionProvider: 'CPUExecutionProvider' };

/**
 * The catalog shipped with Crucible: the bundled model, and published ONNX exports at their
 * public addresses. Per-file byte sizes of the hub files are not pinned here (the hub's listing
 * rounds them), so the server's Content-Length is what a download verifies for those.
 */
export function builtinCatalog(bundledModelsDir: string): CatalogEntry[] {
  const raw = [
    {
      name: 'stories260k-generic-cpu:1', displayName: 'stories260k (TinyStories, 260K parameters)', alias: 'stories260k', version: '1',
      uri: pathToFileURL(`${bundledModelsDir}/stories260k`).href, publisher: 'karpathy/tinyllamas', task: 'chat-completion',
      runtime: cpu, fileSizeMb: 1, license: 'MIT', maxOutputTokens: 512, supportsToolCalling: false,
      files: [
        { path: 'config.json' }, { path: 'generation_config.json' }, { path: 'genai_config.json' },
        { path: 'tokenizer.json' }, { path: 'tokenizer_config.json' }, { path: 'onnx/model.onnx' },
      ],
    },
    {
      name: 'qwen2.5-0.5b-instruct-generic-cpu:1', displayName: 'Qwen2.5 0.5B Instruct (int8)', alias: 'qwen2.5-0.5b',
      uri: hf('onnx-community/Qwen2.5-0.5B-Instruct'), publisher: 'Qwen', task: 'chat-completion', runtime: cpu,
      fileSizeMb: 530, license: 'apache-2.0', maxOutputTokens: 4096, supportsToolCalling: true,
      files: hfFiles(['onnx/model_quantized.onnx']),
    },
    {
      name: 'smollm2-360m-instruct-generic-cpu:1', displayName: 'SmolLM2 360M Instruct (int8)', alias: 'smollm2-360m',
      uri: hf('HuggingFaceTB/SmolLM2-360M-Instruct'), publisher: 'HuggingFaceTB', task: 'chat-completion', runtime: cpu,
      fileSizeMb: 390, license: 'apache-2.0', maxOutputTokens: 2048, supportsToolCalling: false,
      files: hfFiles(['onnx/model_quantized.onnx']),
    },
    {
      name: 'llama-3.2-1b-instruct-generic-cpu:1', displayName: 'Llama 3.2 1B Instruct (int8)', alias: 'llama-3.2-1b',
      uri: hf('onnx-community/Llama-3.2-1B-Instruct'), publisher: 'Meta', task: 'chat-completion', runtime: cpu,
      fileSizeMb: 1580, license: 'llama3.2', maxOutputTokens: 4096, supportsToolCalling: true,
      files: hfFiles(['onnx/model_quantized.onnx']),
    },
    {
      name: 'phi-3.5-mini-instruct-generic-cpu:1', displayName: 'Phi-3.5 mini Instruct (int4, ONNX Runtime GenAI)', alias: 'phi-3.5-mini',
      uri: hf('microsoft/Phi-3.5-mini-instruct-onnx') + '/cpu_and_mobile/cpu-int4-awq-block-128-acc-level-4',
      publisher: 'Microsoft', task: 'chat-completion', runtime: cpu, fileSizeMb: 2720, license: 'MIT', maxOutputTokens: 4096,
      supportsToolCalling: false,
      files: [
        { path: 'genai_config.json' }, { path: 'tokenizer.json' }, { path: 'tokenizer_config.json' },
        { path: 'special_tokens_map.json' },
        { path: 'phi-3.5-mini-instruct-cpu-int4-awq-block-128-acc-level-4.onnx' },
        { path: 'phi-3.5-mini-instruct-cpu-int4-awq-block-128-acc-level-4.onnx.data' },
      ],
    },
  ];
  return raw.map((e, i) => parseCatalogEntry(e, `builtin[${i}]`));
}
