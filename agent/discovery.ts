import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { ExternalModel } from '../protocol/catalog.js';
import { pickVariant, providerName } from './resolve.js';
import { detectLayout } from '../workers/engine/model-spec.js';
import { manifestFiles, readPredictiveManifest } from '../workers/predict/manifest.js';
import { detectEmbeddingModel } from '../workers/embeddings/spec.js';
import { detectWhisper } from '../workers/speech/whisper-config.js';

/** A model folder found in the cache. */
export interface ModelEntry {
  /** Declared id (`name:version`), or the folder name when the folder declares none. */
  id: string;
  alias: string | null;
  /** Path relative to the models folder; also accepted as a name. */
  folder: string;
  path: string;
  /** Bytes of the ONNX weights, to size thread pools. */
  bytes: number;
  settings: ModelSettings;
  /** `chat` for generative models, `embeddings` for embedding models (agent/embedding-runner.ts), the predictive task its manifest declares, or speech to text (Whisper). */
  task: 'chat' | 'ocr' | 'image-classification' | 'embeddings' | 'automatic-speech-recognition';
  /** Set for a registered external model: requests are proxied to it. */
  external?: ExternalModel;
  /** The execution provider the variant was built for (its catalog runtime), `cpu` when it names none. */
  provider: string;
  /** The catalog's device type (`CPU`, `GPU`, `NPU`), when its manifest names one. */
  deviceType?: string;
  /** Always true: an entry is in the cache (for the shared resolver). */
  cached: true;
}

/** `crucible.json` beside the model files: the catalog entry it was installed from. */
interface Manifest {
  id?: string;
  name?: string;
  alias?: string;
  /** Per-model overrides of --max-batch, --replicas and --threads. */
  maxBatch?: number;
  replicas?: number;
  threads?: number;
  fuse?: boolean;
  variant?: string;
  pooling?: string;
  matryoshka?: boolean;
  /** The catalog entry's runtime, written by the downloader. */
  runtime?: { executionProvider?: string; deviceType?: string };
}

/** Per-model serving settings a manifest may set; unset ones follow the agent's flags. */
export interface ModelSettings {
  maxBatch?: number;
  replicas?: number;
  threads?: number;
  /** false: load the export as it is, even when the agent fuses plain exports. */
  fuse?: boolean;
  /** Which of several `.onnx` files in the folder to load (`q4` picks `model_q4.onnx`). */
  variant?: string;
  /** How /v1/embeddings pools hidden states (`last`, as Foundry and llama-server do, or `mean`; `cls` for encoders). */
  pooling?: 'last' | 'mean' | 'cls';
  /** The model's vectors may be truncated (Matryoshka training): `dimensions` is honoured. */
  matryoshka?: boolean;
  /** Requests that may wait for this model; unset follows --max-queue (a deployment's own limit). */
  maxQueue?: number;
}

const positive = (v: unknown): number | undefined => (Number.isInteger(v) && (v as number) > 0 ? (v as number) : undefined);

function readManifest(dir: string): Manifest {
  try {
    return JSON.parse(readFileSync(join(dir, 'crucible.json'), 'utf8')) as Manifest;
  } catch {
    return {};
  }
}

function onnxBytes(dir: string): number {
  let total = 0;
  for (const sub of [dir, join(dir, 'onnx')]) {
    if (!existsSync(sub)) continue;
    for (const f of readdirSync(sub)) {
      if (f.endsWith('.onnx') || f.endsWith('.onnx_data') || f.endsWith('.onnx.data')) total += statSync(join(sub, f)).size;
    }
  }
  return total;
}

function predictiveBytes(dir: string, m: NonNullable<ReturnType<typeof readPredictiveManifest>>): number {
  try {
    return manifestFiles(dir, m).reduce((sum, f) => sum + (existsSync(f) ? statSync(f).size : 0), 0);
  } catch {
    return 0;
  }
}

/**
 * Walks the models folder (to a depth of three, for publisher/model/version layouts) and returns
 * every folder that holds a loadable model. Folders whose names start with '.' are downloads in
 * progress and are skipped.
 */
export function discoverModels(root: string, depth = 3): ModelEntry[] {
  const found: ModelEntry[] = [];
  const walk = (dir: string, left: number) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      if (name.startsWith('.')) continue;
      const path = join(dir, name);
      try {
        if (!statSync(path).isDirectory()) continue;
      } catch {
        continue;
      }
      const predictive = readPredictiveManifest(path);
      // A Whisper folder also holds genai_config.json or config.json: it is told apart first.
      const speech = predictive ? null : detectWhisper(path);
      const embedding = predictive || speech ? null : detectEmbeddingModel(path);
      if (predictive || speech || embedding || detectLayout(path) !== null) {
        const m = readManifest(path);
        const folder = relative(root, path).split('\\').join('/');
        found.push({
          id: m.id ?? m.name ?? name, alias: m.alias ?? null, folder, path,
          bytes: predictive ? predictiveBytes(path, predictive) : onnxBytes(path),
          task: predictive ? predictive.task : speech ? 'automatic-speech-recognition' : embedding ? 'embeddings' : 'chat',
          provider: providerName(typeof m.runtime?.executionProvider === 'string' ? m.runtime.executionProvider : 'cpu'),
          ...(typeof m.runtime?.deviceType === 'string' ? { deviceType: m.runtime.deviceType } : {}),
          cached: true,
          settings: {
            maxBatch: positive(m.maxBatch), replicas: positive(m.replicas), threads: positive(m.threads),
            ...(m.fuse === false ? { fuse: false } : {}),
            ...(typeof m.variant === 'string' && m.variant ? { variant: m.variant } : {}),
            ...(m.pooling === 'mean' || m.pooling === 'last' || m.pooling === 'cls' ? { pooling: m.pooling } : {}),
            ...(m.matryoshka === true ? { matryoshka: true } : {}),
          },
        });
      } else if (left > 1) {
        walk(path, left - 1);
      }
    }
  };
  walk(root, depth);
  return found;
}

/**
 * Resolves a requested name with the shared resolver (exact id, id without version, alias), then
 * by folder name.
 */
export function resolveEntry(entries: ModelEntry[], name: string, providers: string[]): ModelEntry | undefined {
  return pickVariant(entries, name, providers) ?? entries.find((e) => e.folder.toLowerCase() === name.toLowerCase());
}

/** A registered external model as a registry entry. */
export const externalEntry = (m: ExternalModel): ModelEntry =>
  ({ id: m.ModelName, alias: null, folder: '', path: m.BaseUri, bytes: 0, task: 'chat', settings: {}, external: m, provider: 'cpu', cached: true });
