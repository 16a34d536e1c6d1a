/**
 * Finds stop strings in streamed text. Text that might be the start of a stop string is held back
 * until it is clearly not, so a stop string never reaches the client, even split across tokens.
 */
export class StopMatcher {
  private held = '';
  private readonly longest: number;

  constructor(private readonly stops: string[]) {
    this.longest = stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  /** Returns the text safe to emit, and whether a stop string ended the sequence. */
  push(text: string): { emit: string; stopped: boolean } {
    if (this.stops.length === 0) return { emit: text, stopped: false };
    const buf = this.held + text;
    let cut = -1;
    for (const s of this.stops) {
      const at = buf.indexOf(s);
      if (at !== -1 && (cut === -1 || at < cut)) cut = at;
    }
    if (cut !== -1) {
      this.held = '';
      return { emit: buf.slice(0, cut), stopped: true };
    }
    // Hold back the longest tail that is a prefix of some stop string.
    let hold = 0;
    for (let k = Math.min(this.longest - 1, buf.length); k > 0; k--) {
      const tail = buf.slice(buf.length - k);
      if (this.stops.some((s) => s.startsWith(tail))) { hold = k; break; }
    }
    this.held = buf.slice(buf.length - hold);
    return { emit: buf.slice(0, buf.length - hold), stopped: false };
  }

  flush(): string {
    const out = this.held;
    this.held = '';
    return out;
  }
}
