import cliProgress from 'cli-progress';
import type { DownloadProgress } from '../../protocol/catalog.js';
import type { AgentClient } from '../typescript/connect.js';

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
const duration = (s: number | null) => (s === null ? '?' : s >= 3600 ? `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m` : s >= 60 ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s` : `${Math.round(s)}s`);

/** `crucible model list`: the catalog, with what is cached. */
export async function modelList(c: AgentClient): Promise<number> {
  const rows = await c.catalog();
  console.log(`${'ALIAS'.padEnd(18)} ${'ID'.padEnd(40)} ${'DEVICE'.padEnd(6)} ${'SIZE'.padStart(8)}  CACHED  LICENSE`);
  for (const e of rows) {
    console.log(`${e.alias.padEnd(18)} ${e.name.padEnd(40)} ${e.runtime.deviceType.padEnd(6)} ${`${e.fileSizeMb} MB`.padStart(8)}  ${(e.cached ? 'yes' : '').padEnd(6)}  ${e.license}`);
  }
  return 0;
}

/**
 * Downloads a model with a progress bar (bytes, percent, rate, time left) on standard error;
 * Ctrl-C cancels. Resolves to the downloaded id.
 */
export async function downloadWithBar(c: AgentClient, name: string): Promise<string> {
  const bar = new cliProgress.SingleBar({
    format: '{bar} {percentage}% | {done}/{size} MB | {rate} MB/s | ETA {eta_h} | {file}',
    hideCursor: true,
    noTTYOutput: true,
    notTTYSchedule: 1000,
  }, cliProgress.Presets.shades_classic);
  let started = false;
  const onProgress = (p: DownloadProgress) => {
    const payload = {
      done: mb(p.bytesDone), size: p.bytesTotal ? mb(p.bytesTotal) : '?', rate: mb(p.bytesPerSecond),
      eta_h: duration(p.secondsLeft), file: p.file,
    };
    const total = p.bytesTotal ?? Math.max(p.bytesDone, 1);
    if (!started) {
      bar.start(total, p.bytesDone, payload);
      started = true;
    } else {
      bar.setTotal(total);
      bar.update(p.bytesDone, payload);
    }
  };
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  try {
    const r = await c.download(name, onProgress, ac.signal);
    return r.model;
  } finally {
    if (started) bar.stop();
    process.off('SIGINT', onSigint);
  }
}

/** `crucible model download`: a progress bar with bytes, percent, rate and time left. */
export async function modelDownload(c: AgentClient, name: string): Promise<number> {
  console.log(`Downloaded ${await downloadWithBar(c, name)}`);
  return 0;
}

/** `crucible cache list`: what is in the cache folder, with state. */
export async function cacheList(c: AgentClient): Promise<number> {
  const rows = await c.modelInfo();
  for (const m of rows) console.log(`${m.id.padEnd(40)} ${(m.alias ?? '').padEnd(18)} ${m.state.padEnd(8)} ${m.folder || m.path}`);
  return 0;
}
