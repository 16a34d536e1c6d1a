/**
 * `npm run bench -- --ep webgpu`: each model on the WebGPU provider next to the CPU, through real
 * agents over HTTP, 1 stream and 8 concurrent streams; and the engine alone with its KV caches on
 * the device against through host memory. The adapter measured on is recorded with the figures:
 * on a software adapter (SwiftShader) they prove the path only, never speed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { probeWebGpuAdapter } from '../agent/gpu-adapter.js';
import type { WebGpuReport } from '../protocol/models.js';
import { optimizeModel } from '../workers/optimize/optimize-model.js';
import { loadEngine, startAgent } from './crucible.js';
import { type Figure, type Sample, median, repeat } from './stats.js';

export interface WebGpuResult {
  model: string;
  threads: number;
  figures: Record<'cpu1' | 'cpu8' | 'gpu1' | 'gpu8' | 'gpuDevice1' | 'gpuHost1', Figure>;
  kvCache: string | null;
}

/** Like stats.summarise, to a tenth of a token per second (a software adapter is slow). */
function figure(samples: Sample[]): Figure {
  const ttft = samples.map((s) => s.ttftMs).filter((x): x is number => x !== null);
  return { tokPerSec: Math.round(median(samples.map((s) => s.tokens / s.seconds)) * 10) / 10, ttftMs: ttft.length ? Math.round(median(ttft)) : null, runs: samples.length };
}

export async function benchWebGpu(dir: string, threads: number, prompts: string[], tokens: number, runs: number): Promise<WebGpuResult> {
  console.error(`\n${dir} on WebGPU and the CPU (${threads} thread(s), ${tokens} tokens, ${runs} run(s))`);
  const fusedDir = join(mkdtempSync(join(tmpdir(), 'crb-fused-')), basename(dir));
  let cpuDir = dir;
  try {
    await optimizeModel(dir, fusedDir, { id: basename(dir) }, threads);
    cpuDir = fusedDir;
  } catch (err) {
    console.error(`  (fusing failed, the CPU rows use the plain export: ${(err as Error).message})`);
  }
  try {
    const cpu = await startAgent(cpuDir, threads);
    let cpu1: Figure;
    let cpu8: Figure;
    try {
      cpu1 = figure(await repeat(runs, () => cpu.http(prompts[0], tokens)));
      cpu8 = figure(await repeat(runs, () => cpu.concurrent(prompts, tokens)));
    } finally {
      await cpu.stop();
    }
    console.error(`  CPU over HTTP: ${cpu1.tokPerSec} tok/s alone, ${cpu8.tokPerSec} tok/s for 8`);
    // WebGPU runs the export as it is (the CPU's fused attention has no WebGPU kernel).
    const gpu = await startAgent(dir, threads, 'webgpu');
    let gpu1: Figure;
    let gpu8: Figure;
    let kvCache: string | null;
    try {
      kvCache = (await gpu.row())?.kvCache ?? null;
      gpu1 = figure(await repeat(runs, () => gpu.http(prompts[0], tokens)));
      gpu8 = figure(await repeat(runs, () => gpu.concurrent(prompts, tokens)));
    } finally {
      await gpu.stop();
    }
    console.error(`  WebGPU over HTTP (KV caches: ${kvCache}): ${gpu1.tokPerSec} tok/s alone, ${gpu8.tokPerSec} tok/s for 8`);
    const engineRow = async (deviceKv: boolean) => {
      const e = await loadEngine(dir, threads, 'webgpu', deviceKv);
      try {
        return figure(await repeat(runs, () => e.single(prompts[0], tokens)));
      } finally {
        await e.release();
      }
    };
    const gpuDevice1 = await engineRow(true);
    const gpuHost1 = await engineRow(false);
    console.error(`  WebGPU engine in-process, 1 stream: ${gpuDevice1.tokPerSec} tok/s with the caches on the device, ${gpuHost1.tokPerSec} through host memory`);
    return { model: dir, threads, figures: { cpu1, cpu8, gpu1, gpu8, gpuDevice1, gpuHost1 }, kvCache };
  } finally {
    rmSync(join(fusedDir, '..'), { recursive: true, force: true });
  }
}

export const adapterOf = (): Promise<WebGpuReport> => probeWebGpuAdapter();

export function webGpuTable(results: WebGpuResult[], adapter: WebGpuReport, tokens: number, runs: number): string {
  const a = adapter.adapter;
  const device = a ? `${a.name} (${a.vendor}, ${a.backend ?? '?'}${a.software ? ', a SOFTWARE adapter: these figures prove the path only' : ''})` : `no adapter (${adapter.note})`;
  const lines = [`\nWebGPU adapter: ${device}`];
  for (const r of results) {
    const f = r.figures;
    lines.push(`\n${basename(r.model)} (greedy, ${tokens} new tokens, median of ${runs}, ${r.threads} thread(s); CPU on the fused graph, WebGPU on the export as is, KV caches ${r.kvCache ?? '?'})`);
    lines.push('| figure | tok/s | vs the CPU | time to first token |');
    lines.push('| --- | ---: | ---: | ---: |');
    const row = (label: string, x: Figure, of: Figure | null) => lines.push(`| ${label} | ${x.tokPerSec} | ${of ? `${(x.tokPerSec / of.tokPerSec).toFixed(2)}x` : ''} | ${x.ttftMs === null ? '-' : `${x.ttftMs} ms`} |`);
    row('CPU, HTTP, 1 stream', f.cpu1, null);
    row('CPU, HTTP, 8 concurrent streams (aggregate)', f.cpu8, null);
    row('WebGPU, HTTP, 1 stream', f.gpu1, f.cpu1);
    row('WebGPU, HTTP, 8 concurrent streams (aggregate)', f.gpu8, f.cpu8);
    row('WebGPU engine in-process, 1 stream, KV caches on the device', f.gpuDevice1, null);
    row('WebGPU engine in-process, 1 stream, KV caches through host memory', f.gpuHost1, null);
  }
  return lines.join('\n');
}
