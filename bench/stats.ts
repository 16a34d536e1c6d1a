/** One measured generation. */
export interface Sample {
  tokens: number;
  seconds: number;
  ttftMs: number | null;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export interface Figure {
  tokPerSec: number;
  ttftMs: number | null;
  runs: number;
}

/** Median throughput and time to first token over repeated runs. */
export function summarise(samples: Sample[]): Figure {
  const ttft = samples.map((s) => s.ttftMs).filter((x): x is number => x !== null);
  return {
    tokPerSec: Math.round(median(samples.map((s) => s.tokens / s.seconds))),
    ttftMs: ttft.length ? Math.round(median(ttft) * 10) / 10 : null,
    runs: samples.length,
  };
}

export async function repeat(runs: number, fn: () => Promise<Sample>): Promise<Sample[]> {
  await fn(); // warm-up, not counted
  const out: Sample[] = [];
  for (let i = 0; i < runs; i++) out.push(await fn());
  return out;
}

/** One measured contender of a round: a label and one timed run. */
export interface Contender {
  key: string;
  run: () => Promise<Sample>;
}

/** Pause between contenders so the previous one's spinning threads (ONNX Runtime, llama.cpp) go idle. */
const SETTLE_MS = 100;

/**
 * Every contender once per round, `runs` rounds after one warm-up round, the starting contender
 * rotated each round. Load on this machine swings figures up to 2x over minutes; interleaving puts
 * each row's samples under the same conditions as its peers', so the ratios of one round compare
 * like with like (see `pairedRatio`).
 */
export async function rounds(contenders: Contender[], runs: number, log?: (key: string, s: Sample) => void): Promise<Record<string, Sample[]>> {
  const out: Record<string, Sample[]> = Object.fromEntries(contenders.map((c) => [c.key, []]));
  for (let r = -1; r < runs; r++) {
    for (let i = 0; i < contenders.length; i++) {
      const c = contenders[(i + Math.max(0, r)) % contenders.length];
      await new Promise((res) => setTimeout(res, SETTLE_MS));
      const s = await c.run();
      if (r >= 0) { out[c.key].push(s); log?.(c.key, s); }
    }
  }
  return out;
}

/** The median over rounds of x's throughput over y's in the same round. */
export function pairedRatio(x: Sample[], y: Sample[]): number {
  const n = Math.min(x.length, y.length);
  const rate = (s: Sample) => s.tokens / s.seconds;
  return median(Array.from({ length: n }, (_, i) => rate(x[i]) / rate(y[i])));
}
