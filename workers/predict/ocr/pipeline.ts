import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { type RgbImage, cropQuad, rot90 } from '../image.js';
import { DET_DEFAULTS, type DetSettings, detect } from './detect.js';
import type { Point } from './geometry.js';
import { orient, recognize } from './recognize.js';

export interface OcrLine {
  text: string;
  confidence: number;
  /** Corners in image pixels: top-left, top-right, bottom-right, bottom-left. */
  box: Point[];
  detectionScore: number;
}

export interface OcrFiles {
  det: string;
  cls?: string;
  rec: string;
  keys: string;
}

const dist = (a: Point, b: Point) => Math.hypot(a[0] - b[0], a[1] - b[1]);

/** PP-OCR: DB text detection, orientation classification, CRNN recognition. */
export class OcrPipeline {
  private constructor(
    readonly det: ort.InferenceSession,
    readonly cls: ort.InferenceSession | null,
    readonly rec: ort.InferenceSession,
    private readonly charset: string[],
    private readonly settings: DetSettings,
    private readonly minConfidence: number,
  ) {}

  static async create(files: OcrFiles, threads: number, settings: Partial<DetSettings> = {}, minConfidence = 0.5): Promise<OcrPipeline> {
    const opts: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
    const [det, cls, rec] = await Promise.all([
      ort.InferenceSession.create(files.det, opts),
      files.cls ? ort.InferenceSession.create(files.cls, opts) : Promise.resolve(null),
      ort.InferenceSession.create(files.rec, opts),
    ]);
    // Index 0 is CTC's blank; the dictionary follows, then the space character.
    const keys = readFileSync(files.keys, 'utf8').split(/\r?\n/).filter((l, i, all) => i < all.length - 1 || l.length > 0);
    return new OcrPipeline(det, cls, rec, ['', ...keys, ' '], { ...DET_DEFAULTS, ...settings }, minConfidence);
  }

  async run(img: RgbImage): Promise<OcrLine[]> {
    const boxes = await detect(this.det, img, this.settings);
    const lines: OcrLine[] = [];
    for (const { box, score } of boxes) {
      const w = Math.max(1, Math.round(Math.max(dist(box[0], box[1]), dist(box[3], box[2]))));
      const h = Math.max(1, Math.round(Math.max(dist(box[0], box[3]), dist(box[1], box[2]))));
      let crop = cropQuad(img, box as [number, number][], w, h);
      if (h / w >= 1.5) crop = rot90(crop);
      crop = await orient(this.cls, crop);
      const { text, confidence } = await recognize(this.rec, crop, this.charset);
      if (text.trim() && confidence >= this.minConfidence) {
        lines.push({ text, confidence: Math.round(confidence * 1e4) / 1e4, box: box.map(([x, y]) => [Math.round(x), Math.round(y)] as Point), detectionScore: Math.round(score * 1e4) / 1e4 });
      }
    }
    return lines;
  }

  async release(): Promise<void> {
    await Promise.all([this.det.release(), this.cls?.release(), this.rec.release()]);
  }
}
