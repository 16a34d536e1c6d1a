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
