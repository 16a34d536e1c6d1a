/** Where a decode step's time goes, summed over steps (`npm run bench -- --profile`). */
export class StepProfile {
  readonly ms: Record<'inputs' | 'run' | 'kv' | 'sample' | 'detokenize' | 'yield', number> = { inputs: 0, run: 0, kv: 0, sample: 0, detokenize: 0, yield: 0 };
  steps = 0;
  tokens = 0;

  add(part: keyof StepProfile['ms'], since: number): number {
    const now = performance.now();
    this.ms[part] += now - since;
    return now;
  }

  /** Milliseconds per step for each part. */
  perStep(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.ms).map(([k, v]) => [k, this.steps ? Math.round((v / this.steps) * 1000) / 1000 : 0]));
  }

  reset(): void {
    for (const k of Object.keys(this.ms) as (keyof StepProfile['ms'])[]) this.ms[k] = 0;
    this.steps = this.tokens = 0;
  }
}
