import { existsSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { CrucibleError } from '../../protocol/errors.js';
import type { ClassPrediction, ImageType, ModelMetadata, OcrPrediction, TensorInfo } from '../../protocol/predict.js';
import { Classifier } from './classifier.js';
import { decodeImage } from './image.js';
import { type PredictiveManifest, manifestFiles, readPredictiveManifest, resolveModelFile } from './manifest.js';
import { OcrPipeline } from './ocr/pipeline.js';

function describe(session: ort.InferenceSession, name: string) {
  const info = (names: readonly string[], meta: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] =>
    names.map((n, i) => {
      const m = meta[i] as { isTensor: boolean; type?: string; shape?: (number | string)[] };
      return { name: n, type: m?.isTensor ? String(m.type) : 'unknown', shape: m?.isTensor ? [...(m.shape ?? [])] : [] };
    });
  return { name, inputs: info(session.inputNames, session.inputMetadata), outputs: info(session.outputNames, session.outputMetadata) };
}

/** A predictive model in a worker: decodes items, runs the task's pipeline, describes itself. */
export class PredictEngine {
  private constructor(
    readonly manifest: PredictiveManifest,
    private readonly ocr: OcrPipeline | null,
    private readonly classifier: Classifier | null,
    readonly metadata: ModelMetadata,
    private readonly maxPixels: number,
  ) {}

  static async create(dir: string, name: string, threads: number, maxPixels: number): Promise<PredictEngine> {
    const m = readPredictiveManifest(dir);
    if (!m) throw new CrucibleError('model_load_failed', `${dir}/crucible.json declares no predictive task`);
    for (const f of manifestFiles(dir, m)) {
      if (!existsSync(f)) throw new CrucibleError('model_load_failed', `model file ${f} is missing`);
    }
    try {
      if (m.task === 'ocr') {
        const files = {
          det: resolveModelFile(dir, m.files.det), rec: resolveModelFile(dir, m.files.rec), keys: resolveModelFile(dir, m.files.keys),
          ...(m.files.cls ? { cls: resolveModelFile(dir, m.files.cls) } : {}),
        };
        const ocr = await OcrPipeline.create(files, threads, m.detection ?? {}, m.minConfidence ?? 0.5);
        const sessions = [describe(ocr.det, 'det'), ...(ocr.cls ? [describe(ocr.cls, 'cls')] : []), describe(ocr.rec, 'rec')];
        return new PredictEngine(m, ocr, null, { name, task: m.task, sessions }, maxPixels);
      }
      const classifier = await Classifier.create(dir, m, threads);
      return new PredictEngine(m, null, classifier, { name, task: m.task, sessions: [describe(classifier.session, 'model')] }, maxPixels);
    } catch (err) {
      if (err instanceof CrucibleError) throw err;
      throw new CrucibleError('model_load_failed', `cannot load ${name}: ${(err as Error).message}`);
    }
  }

  async predict(items: { contentType: ImageType; bytes: Uint8Array }[]): Promise<(OcrPrediction | ClassPrediction)[]> {
    const out: (OcrPrediction | ClassPrediction)[] = [];
    for (const [i, item] of items.entries()) {
      const img = await decodeImage(item.bytes, this.maxPixels, `items[${i}].data`);
      if (this.ocr) {
        const lines = await this.ocr.run(img);
        out.push({ lines, text: lines.map((l) => l.text).join('\n') });
      } else {
        out.push(await this.classifier!.run(img));
      }
    }
    return out;
  }
}
