import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { CrucibleError } from '../../protocol/errors.js';

export const PREDICTIVE_TASKS = ['ocr', 'image-classification'] as const;
export type PredictiveTask = (typeof PREDICTIVE_TASKS)[number];

/**
 * `crucible.json` of a predictive model: its task and how to feed and read its graphs, so new
 * classifiers need a manifest and no code. Files are relative to the folder, or
 * `npm:<package>/<path>` for model files shipped in an installed npm package.
 */
export interface OcrManifest {
  task: 'ocr';
  files: { det: string; cls?: string; rec: string; keys: string };
  detection?: { limitSideLen?: number; thresh?: number; boxThresh?: number; unclipRatio?: number };
  minConfidence?: number;
}

export interface ClassifierManifest {
  task: 'image-classification';
  model: string;
  preprocess: {
    width: number;
    height: number;
    /** `fill` stretches; `pad` keeps the aspect ratio, scales to the height and pads the width. */
    resize?: 'fill' | 'pad';
    mean?: number[];
    std?: number[];
    channels?: 'rgb' | 'bgr';
  };
  postprocess: { labels: string[] | string; softmax?: boolean; topK?: number };
}

export type PredictiveManifest = (OcrManifest | ClassifierManifest) & { id?: string; alias?: string };

const require = createRequire(import.meta.url);

/** Resolves a manifest path; `npm:` paths find the package in this installation's node_modules. */
export function resolveModelFile(dir: string, path: string): string {
  if (path.startsWith('npm:')) {
    const spec = path.slice(4);
    const parts = spec.split('/');
    const pkgLen = spec.startsWith('@') ? 2 : 1;
    const pkg = parts.slice(0, pkgLen).join('/');
    const rest = parts.slice(pkgLen).join('/');
    for (const base of require.resolve.paths(pkg) ?? []) {
      const candidate = join(base, pkg, rest);
      if (existsSync(join(base, pkg))) return candidate;
    }
    throw new CrucibleError('model_load_failed', `npm package ${pkg} is not installed (needed for ${path})`);
  }
  const full = resolve(dir, path);
  if (isAbsolute(path) || !(full + sep).startsWith(resolve(dir) + sep)) {
    throw new CrucibleError('model_load_failed', `manifest path ${path} leaves the model folder`);
  }
  return full;
}

export function readPredictiveManifest(dir: string): PredictiveManifest | null {
  let m: PredictiveManifest;
  try {
    m = JSON.parse(readFileSync(join(dir, 'crucible.json'), 'utf8'));
  } catch {
    return null;
  }
  return (PREDICTIVE_TASKS as readonly string[]).includes((m as { task?: string }).task ?? '') ? m : null;
}

/** Every file a manifest needs, resolved; missing ones are reported by name. */
export function manifestFiles(dir: string, m: PredictiveManifest): string[] {
  const paths = m.task === 'ocr'
    ? [m.files.det, m.files.rec, m.files.keys, ...(m.files.cls ? [m.files.cls] : [])]
    : [m.model, ...(typeof m.postprocess.labels === 'string' ? [m.postprocess.labels] : [])];
  return paths.map((p) => resolveModelFile(dir, p));
}
