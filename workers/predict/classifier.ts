import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import type { ClassPrediction } from '../../protocol/predict.js';
import { type RgbImage, resize, toChw } from './image.js';
import { type ClassifierManifest, resolveModelFile } from './manifest.js';

/** An image classifier driven entirely by its manifest. */
export class Classifier {
  private constructor(readonly session: ort.InferenceSession, private readonly m: ClassifierManifest, private readonly labels: string[]) {}

  static async create(dir: string, m: ClassifierManifest, threads: number): Promise<Classifier> {
    const session = await ort.InferenceSession.create(resolveModelFile(dir, m.model), {
      executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    });
    const labels = typeof m.postprocess.labels === 'string'
      ? readFileSync(resolveModelFile(dir, m.postprocess.labels), 'utf8').split(/\r?\n/).filter(Boolean)
      : m.postprocess.labels;
    return new Classifier(session, m, labels);
  }

  async run(img: RgbImage): Promise<ClassPrediction> {
    const p = this.m.preprocess;
    const mean = p.mean ?? [0, 0, 0];
    const std = p.std ?? [1, 1, 1];
    let input: Float32Array;
    if (p.resize === 'pad') {
      const w = Math.min(p.width, Math.max(1, Math.ceil(p.height * (img.width / img.height))));
      input = toChw(await resize(img, w, p.height), mean, std, p.channels ?? 'rgb', p.width);
    } else {
      input = toChw(await resize(img, p.width, p.height), mean, std, p.channels ?? 'rgb');
    }
    const out = await this.session.run({ [this.session.inputNames[0]]: new ort.Tensor('float32', input, [1, 3, p.height, p.width]) });
    let scores = Array.from(out[this.session.outputNames[0]].data as Float32Array);
    if (this.m.postprocess.softmax) {
      const max = Math.max(...scores);
      const exp = scores.map((s) => Math.exp(s - max));
      const sum = exp.reduce((a, b) => a + b, 0);
      scores = exp.map((e) => e / sum);
    }
    const ranked = scores.map((score, i) => ({ label: this.labels[i] ?? String(i), score: Math.round(score * 1e4) / 1e4 }))
      .sort((a, b) => b.score - a.score);
    return { labels: ranked.slice(0, this.m.postprocess.topK ?? 5) };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
