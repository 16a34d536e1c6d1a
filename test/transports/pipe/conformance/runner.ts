/**
 * The TypeScript runner of the pipe conformance cases (cases.json; the format is in README.md):
 * replays each case's frames on real sockets and checks the frames that come back, decoding
 * them with a strict decoder so that an id sent as a float fails where an integer is expected.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { encodeFrame, encodeMessagePack } from '../../../../protocol/framing.js';
import { decodeStrict, Float, type Value } from './strict-msgpack.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Pattern = Json;
type Frame = { [key: string]: Value };

export interface Suite {
  version: number;
  bodies: Record<string, Json>;
  cases: Case[];
}
export interface Case {
  name: string;
  doc?: string;
  steps: Step[];
}
type Step = { [key: string]: Json } & { conn?: string };

export const CASES_FILE = new URL('../../../../../test/transports/pipe/conformance/cases.json', import.meta.url);
export const SYNC_ID = 1_000_000;
const STEP_TIMEOUT_MS = 20_000;
const MAX_FRAME = 16 * 1024 * 1024;

export function loadSuite(file: URL | string = CASES_FILE): Suite {
  return JSON.parse(readFileSync(file, 'utf8')) as Suite;
}

class CaseFailure extends Error {}
const fail = (msg: string): never => { throw new CaseFailure(msg); };
const show = (v: unknown) => JSON.stringify(v, (_, x) => (x instanceof Float ? `${x.value} (float)` : typeof x === 'bigint' ? `${x}` : x));

/** One connection: frames as they arrive (strictly decoded), and whether the agent ended its side. */
class Conn {
  readonly frames: Frame[] = [];
  eof = false;
  gone = false;
  halfClosed = false;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('end', () => { this.eof = true; this.wake(); });
    socket.on('close', () => { this.eof = true; this.wake(); });
    socket.on('error', () => {});
  }

  static open(path: string): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ path, allowHalfOpen: true }, () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 4) {
      const size = this.buf.readUInt32BE(0);
      if (size > MAX_FRAME) {
        this.frames.push({ $tooLarge: size });
        this.buf = Buffer.alloc(0);
        this.socket.destroy();
        break;
      }
      if (this.buf.length < 4 + size) break;
      const body = this.buf.subarray(4, 4 + size);
      this.buf = this.buf.subarray(4 + size);
      let v: Value;
      try {
        v = decodeStrict(body);
      } catch (err) {
        v = { $undecodable: `${(err as Error).message}: ${body.toString('hex').slice(0, 200)}` };
      }
      this.frames.push(v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Float) && !(v instanceof Uint8Array) ? v : { $notAMap: v });
    }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves on the next arrival, the end of the connection, or after `ms`. */
  changed(ms: number): Promise<void> {
    return new Promise((r) => {
      this.waiters.push(r);
      setTimeout(r, ms);
    });
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }
}

// ---- matching ----------------------------------------------------------------------------------

const isMap = (v: unknown): v is { [key: string]: Value } =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Float) && !(v instanceof Uint8Array);

function typeOf(v: Value): string {
  if (v === null) return 'nil';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number' || typeof v === 'bigint') return 'integer';
  if (v instanceof Float) return 'float';
  if (typeof v === 'string') return 'string';
  if (v instanceof Uint8Array) return 'binary';
  return Array.isArray(v) ? 'array' : 'map';
}

export function matches(p: Pattern, v: Value | undefined): boolean {
  if (v === undefined) return false;
  if (p === null || typeof p === 'boolean' || typeof p === 'string') return v === p;
  if (typeof p === 'number') {
    if (!Number.isInteger(p)) return v instanceof Float && v.value === p;
    return (typeof v === 'number' && v === p) || (typeof v === 'bigint' && v === BigInt(p));
  }
  if (Array.isArray(p)) return Array.isArray(v) && v.length === p.length && p.every((x, i) => matches(x, v[i]));
  if ('$any' in p) return true;
  if ('$type' in p) return typeOf(v) === p.$type;
  if ('$oneOf' in p) return (p.$oneOf as Pattern[]).some((x) => matches(x, v));
  if ('$contains' in p) return Array.isArray(v) && v.some((x) => matches(p.$contains, x));
  return isMap(v) && Object.entries(p).every(([k, x]) => Object.hasOwn(v, k) && matches(x, v[k]));
}

interface Entry { pattern: Pattern; min: number; max: number; id: number }

function entryOf(e: Pattern): Entry {
  const obj = e as { [key: string]: Json };
  const repeat = 'repeat' in obj;
  const pattern = repeat ? obj.repeat : e;
  const head = (pattern as { $oneOf?: Json[] }).$oneOf?.[0] ?? pattern;
  const id = (head as { id?: Json }).id;
  if (typeof id !== 'number') fail(`a frame pattern needs a literal id: ${show(e)}`);
  return { pattern, min: repeat ? (obj.min as number | undefined) ?? 0 : 1, max: repeat ? (obj.max as number | undefined) ?? Infinity : 1, id: id as number };
}

/** Greedy match of `entries` against `frames` in order: how many frames it consumes, or why not yet. */
function matchSequence(entries: Entry[], frames: Frame[]): { done: number } | { wait: string } | { fail: string } {
  let i = 0;
  for (const e of entries) {
    let n = 0;
    while (n < e.max && i < frames.length && matches(e.pattern, frames[i])) { i++; n++; }
    if (n >= e.min) continue;
    if (i === frames.length) return { wait: `waiting for ${show(e.pattern)} (${n} of at least ${e.min} so far)` };
    return { fail: `expected ${show(e.pattern)}${e.max > 1 ? ` (at least ${e.min})` : ''}, got ${show(frames[i])}` };
  }
  return { done: i };
}

/** A frame's id as a plain number, also when it (wrongly) came as a float: then it fails to match. */
const idOf = (f: Frame): number => (f.id instanceof Float ? f.id.value : Number(f.id));

// ---- steps ---------------------------------------------------------------------------------------

function substitute(v: Json, bodies: Record<string, Json>): Json {
  if (Array.isArray(v)) return v.map((x) => substitute(x, bodies));
  if (v !== null && typeof v === 'object') {
    if (typeof v.$body === 'string' && Object.keys(v).length === 1) {
      if (!(v.$body in bodies)) fail(`no body named ${v.$body}`);
      return bodies[v.$body];
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, bodies)]));
  }
  return v;
}

/** A frame map grown with a `pad` string so that its body is exactly `size` bytes. */
function padded(frame: { [key: string]: Json }, size: number): Buffer {
  const base = encodeMessagePack({ ...frame, pad: '' }).length; // "pad": "" ends in a 1-byte fixstr
  const n = size - base - 4; // a str32 header is 5 bytes
  if (n < 0x10000) fail(`pad_to ${size} is too small for str32 padding`);
  const bytes = encodeFrame({ ...frame, pad: 'x'.repeat(n) });
  if (bytes.length !== size + 4) fail(`padding gave ${bytes.length - 4} bytes, not ${size}`);
  return bytes;
}

class Runner {
  private readonly conns = new Map<string, Conn>();

  constructor(private readonly path: string, private readonly bodies: Record<string, Json>) {}

  private async conn(name = 'main'): Promise<Conn> {
    let c = this.conns.get(name);
    if (!c) {
      c = await Conn.open(this.path);
      this.conns.set(name, c);
    }
    return c;
  }

  async run(steps: Step[]): Promise<void> {
    try {
      await this.conn();
      for (const [i, step] of steps.entries()) {
        try {
          await this.step(step);
        } catch (err) {
          if (err instanceof CaseFailure) throw new CaseFailure(`step ${i + 1} (${show(step).slice(0, 160)}): ${err.message}`);
          throw err;
        }
      }
      await this.finish();
    } finally {
      for (const c of this.conns.values()) c.socket.destroy();
    }
  }

  private async step(step: Step): Promise<void> {
    if ('parallel' in step) {
      const n = step.parallel as number;
      await Promise.all(Array.from({ length: n }, () => new Runner(this.path, this.bodies).run(step.steps as Step[])));
      return;
    }
    const c = await this.conn(step.conn);
    if ('send' in step) {
      const frames = (Array.isArray(step.send) ? step.send : [step.send]).map((f) => substitute(f, this.bodies) as { [key: string]: Json });
      const bytes = typeof step.pad_to === 'number' ? padded(frames[0], step.pad_to) : Buffer.concat(frames.map((f) => encodeFrame(f)));
      const per = typeof step.bytes_per_write === 'number' ? step.bytes_per_write : bytes.length;
      for (let i = 0; i < bytes.length; i += per) c.write(bytes.subarray(i, i + per));
    } else if ('send_raw' in step) {
      c.write(Buffer.from((step.send_raw as string).replace(/\s+/g, ''), 'hex'));
    } else if ('expect' in step) {
      await this.expect(c, (step.expect as Pattern[]).map(entryOf), step.ordered === true);
    } else if ('half_close' in step) {
      c.halfClosed = true;
      c.socket.end();
    } else if ('disconnect' in step) {
      c.gone = true;
      c.socket.destroy();
    } else if ('expect_eof' in step) {
      const deadline = Date.now() + STEP_TIMEOUT_MS;
      while (!c.eof) {
        if (Date.now() > deadline) fail('the agent did not end the connection');
        await c.changed(1000);
      }
    } else if ('poll' in step) {
      await this.poll(c, substitute(step.poll, this.bodies) as { id: number }, step.until as Pattern);
    } else {
      fail(`unknown step ${show(step)}`);
    }
  }

  /** Waits until the unconsumed frames of the step's ids match its entries, then consumes them. */
  private async expect(c: Conn, entries: Entry[], ordered: boolean): Promise<Frame[]> {
    const ids = [...new Set(entries.map((e) => e.id))];
    const groups = ordered ? [entries] : ids.map((id) => entries.filter((e) => e.id === id));
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (true) {
      const consumed = new Set<Frame>();
      let waiting: string | null = null;
      for (const group of groups) {
        const mine = new Set(group.map((e) => e.id));
        const frames = c.frames.filter((f) => mine.has(idOf(f)));
        const r = matchSequence(group, frames);
        if ('fail' in r) throw new CaseFailure(r.fail);
        if ('wait' in r) waiting ??= r.wait;
        else frames.slice(0, r.done).forEach((f) => consumed.add(f));
      }
      if (waiting === null) {
        const taken = c.frames.filter((f) => consumed.has(f));
        for (let i = c.frames.length - 1; i >= 0; i--) if (consumed.has(c.frames[i])) c.frames.splice(i, 1);
        return taken;
      }
      if (c.eof) fail(`the connection ended while ${waiting}`);
      if (Date.now() > deadline) fail(`timed out ${waiting}; unconsumed: ${show(c.frames.slice(0, 5))}`);
      await c.changed(1000);
    }
  }

  /** Sends `frame` until its final frame matches `until`. */
  private async poll(c: Conn, frame: { id: number }, until: Pattern): Promise<void> {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    let last: Frame | undefined;
    while (Date.now() < deadline) {
      c.write(encodeFrame(frame));
      const got = await this.expect(c, [entryOf({ repeat: { id: frame.id, type: { $oneOf: ['chunk', 'progress'] } } }), entryOf({ id: frame.id, type: { $oneOf: ['result', 'error'] } })], false);
      last = got.at(-1);
      if (last && matches(until, last)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    fail(`polling never gave ${show(until)}; last: ${show(last)}`);
  }

  /** Each connection still open ends with a status round trip; no frame may be left unconsumed. */
  private async finish(): Promise<void> {
    for (const [name, c] of this.conns) {
      if (c.gone) continue;
      if (!c.eof && !c.halfClosed) {
        c.write(encodeFrame({ id: SYNC_ID, op: 'status', body: null }));
        await this.expect(c, [entryOf({ id: SYNC_ID, type: 'result' })], false);
      }
      if (c.frames.length > 0) fail(`connection ${name}: unexpected frames ${show(c.frames.slice(0, 5))}`);
    }
  }
}

/** Runs one case against the agent at `path`; resolves with null or the reason it failed. */
export async function runCase(path: string, suite: Suite, c: Case): Promise<string | null> {
  try {
    await new Runner(path, suite.bodies).run(c.steps);
    return null;
  } catch (err) {
    if (err instanceof CaseFailure) return err.message;
    throw err;
  }
}
