import { randomBytes } from 'node:crypto';

/** What a generation's text turns into when the request offers tools. */
export type ToolEvent =
  | { type: 'content'; text: string }
  | { type: 'call'; index: number; id: string; name: string }
  | { type: 'arguments'; index: number; text: string };

export const callId = () => `call_${randomBytes(12).toString('base64url')}`;

export interface ToolParser {
  push(text: string): ToolEvent[];
  /** Whatever is left when the generation ends. */
  finish(): ToolEvent[];
  readonly calls: number;
}

/**
 * Reads a forced call as the grammar generates it, `{"name": "f", "arguments": {...}}` or an
 * array of those, and streams it the way OpenAI does: the call's id and name as soon as the name
 * is complete, then the arguments' JSON in pieces as they are generated.
 */
export class ForcedCallParser implements ToolParser {
  private buf = '';
  private at = 0;
  private state: 'name' | 'args' | 'after' = 'name';
  private depth = 0;
  private inString = false;
  private escaped = false;
  calls = 0;

  push(text: string): ToolEvent[] {
    this.buf += text;
    const out: ToolEvent[] = [];
    for (;;) {
      if (this.state === 'name') {
        const m = /"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*/.exec(this.buf.slice(this.at));
        if (!m) break;
        out.push({ type: 'call', index: this.calls, id: callId(), name: JSON.parse(`"${m[1]}"`) as string });
        this.at += m.index + m[0].length;
        this.state = 'args';
        this.depth = 0;
        continue;
      }
      if (this.state === 'args') {
        // Whitespace before the arguments' value belongs to the wrapper, not to them.
        if (this.depth === 0) while (this.at < this.buf.length && /\s/.test(this.buf[this.at])) this.at++;
        const start = this.at;
        let end = -1;
        for (let i = this.at; i < this.buf.length; i++) {
          const ch = this.buf[i];
          if (this.inString) {
            if (this.escaped) this.escaped = false;
            else if (ch === '\\') this.escaped = true;
            else if (ch === '"') this.inString = false;
          } else if (ch === '"') this.inString = true;
          else if (ch === '{' || ch === '[') this.depth++;
          else if (ch === '}' || ch === ']') {
            this.depth--;
            if (this.depth === 0) { end = i + 1; break; }
          }
        }
        const stop = end < 0 ? this.buf.length : end;
        if (stop > start) out.push({ type: 'arguments', index: this.calls, text: this.buf.slice(start, stop) });
        this.at = stop;
        if (end < 0) break;
        this.calls++;
        this.state = 'name';
        continue;
      }
      break;
    }
    return out;
  }

  finish(): ToolEvent[] {
    return [];
  }
}

/**
 * Splits text with Hermes-style `<tool_call>{"name": ..., "arguments": ...}</tool_call>` blocks
 * into content and calls. Text that could be the start of a block is held back until it is not.
 */
export class TaggedCallParser implements ToolParser {
  private buf = '';
  private inside = false;
  calls = 0;

  constructor(private readonly begin = '<tool_call>', private readonly end = '</tool_call>') {}

  push(text: string): ToolEvent[] {
    this.buf += text;
    const out: ToolEvent[] = [];
    for (;;) {
      if (!this.inside) {
        const i = this.buf.indexOf(this.begin);
        if (i >= 0) {
          if (i > 0) out.push({ type: 'content', text: this.buf.slice(0, i) });
          this.buf = this.buf.slice(i + this.begin.length);
          this.inside = true;
          continue;
        }
        // Hold back a tail that may grow into the opening tag.
        let keep = 0;
        for (let k = Math.min(this.begin.length - 1, this.buf.length); k > 0; k--) {
          if (this.begin.startsWith(this.buf.slice(-k))) { keep = k; break; }
        }
        const emit = this.buf.slice(0, this.buf.length - keep);
        if (emit) out.push({ type: 'content', text: emit });
        this.buf = this.buf.slice(this.buf.length - keep);
        break;
      }
      const j = this.buf.indexOf(this.end);
      if (j < 0) break;
      out.push(...this.call(this.buf.slice(0, j)));
      this.buf = this.buf.slice(j + this.end.length);
      this.inside = false;
    }
    return out;
  }

  private call(body: string): ToolEvent[] {
    let parsed: { name?: unknown; arguments?: unknown };
    try {
      parsed = JSON.parse(body);
    } catch {
      return [{ type: 'content', text: `${this.begin}${body}${this.end}` }];
    }
    if (typeof parsed.name !== 'string') return [{ type: 'content', text: `${this.begin}${body}${this.end}` }];
    const index = this.calls++;
    return [
      { type: 'call', index, id: callId(), name: parsed.name },
      { type: 'arguments', index, text: JSON.stringify(parsed.arguments ?? {}) },
    ];
  }

  finish(): ToolEvent[] {
    // An unfinished block (cut by max_tokens) is returned as text, as it was generated.
    const rest = this.inside ? `${this.begin}${this.buf}` : this.buf;
    this.buf = '';
    return rest ? [{ type: 'content', text: rest }] : [];
  }
}
