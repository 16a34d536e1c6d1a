/**
 * One benchmark contender alone in its own process, driven by bench/main.ts over Node's IPC
 * channel. In one process, a loaded peer's idle runtime (llama.cpp's polling threads, another
 * ONNX Runtime's pools) slowed every row measured beside it: the in-process rows and the floor
 * read up to a third below the same loops in a process of their own.
 *
 *   node build/bench/solo.js <peer|llama|engine|floor> <model dir> <threads>
 * Messages in: { id, method, args }; out: { ready, info } once loaded, then { id, result | error }.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadEngine } from './crucible.js';
import { loadFloor } from './floor.js';
import { prepareLlamaCpp } from './llamacpp.js';
import { loadPeer } from './peer.js';
import { PROMPTS } from './prompts.js';

export type SoloKind = 'peer' | 'llama' | 'engine' | 'floor';

type Methods = Record<string, (...args: never[]) => Promise<unknown>>;

async function load(kind: SoloKind, dir: string, threads: number): Promise<{ methods: Methods; info: unknown }> {
  switch (kind) {
    case 'peer': {
      const p = await loadPeer(dir, threads);
      return { methods: { single: p.single, batch: p.batch } as Methods, info: { memoryBytes: p.memoryBytes } };
    }
    case 'llama': {
      const l = await prepareLlamaCpp(dir, threads, PROMPTS);
      return { methods: { single: l.lc.single, concurrent: l.lc.concurrent } as Methods, info: l.check };
    }
    case 'engine': {
      const e = await loadEngine(dir, threads);
      return { methods: { single: e.single } as Methods, info: null };
    }
    case 'floor': {
      const f = await loadFloor(dir, threads);
      return { methods: { single: f.single, batch: f.batch } as Methods, info: null };
    }
  }
}

/** The parent's handle on a contender process. */
export interface Solo<I> {
  info: I;
  call<T>(method: string, ...args: unknown[]): Promise<T>;
  close(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);

export async function startSolo<I = unknown>(kind: SoloKind, dir: string, threads: number): Promise<Solo<I>> {
  const child = fork(SELF, [kind, dir, String(threads)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let next = 1;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const info = await new Promise<I>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${kind} contender exited (${code}) before it was ready`)));
    child.on('message', (m: { ready?: true; info?: I; id?: number; result?: unknown; error?: string }) => {
      if (m.ready) return resolve(m.info as I);
      const p = pending.get(m.id!);
      if (!p) return;
      pending.delete(m.id!);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.result);
    });
  });
  child.on('exit', () => { for (const p of pending.values()) p.reject(new Error(`${kind} contender exited`)); });
  return {
    info,
    call: <T>(method: string, ...args: unknown[]) => new Promise<T>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, method, args });
    }),
    close: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

if (process.argv[1] === SELF && process.send) {
  const [kind, dir, threads] = process.argv.slice(2) as [SoloKind, string, string];
  const { methods, info } = await load(kind, dir, Number(threads));
  process.on('message', async (m: { id: number; method: string; args: unknown[] }) => {
    try {
      const result = await (methods[m.method] as (...a: unknown[]) => Promise<unknown>)(...m.args);
      process.send!({ id: m.id, result });
    } catch (err) {
      process.send!({ id: m.id, error: (err as Error).message });
    }
  });
  process.send({ ready: true, info });
}
