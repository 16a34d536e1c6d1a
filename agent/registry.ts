import { CrucibleError } from '../protocol/errors.js';
import type { ModelInfo } from '../protocol/models.js';
import type { ExternalModel } from '../protocol/catalog.js';
import { type ModelEntry, discoverModels, externalEntry, resolveEntry } from './discovery.js';
import type { Runner } from './model-runner.js';

export interface RegistryDeps {
  modelsDir: string;
  /** Starts a model's workers; the real one spawns a piscina pool, tests may pass their own. */
  startRunner(entry: ModelEntry, ep: string, variant?: string): Promise<Runner>;
  defaultEp: string;
  /** Seconds a loaded model may sit idle before it is unloaded. */
  defaultTtl: number;
  /** Loaded models kept at once; the least recently used idle one makes room. */
  maxLoaded: number;
  /** Requests one model serves at once (its batch); more wait in its queue. */
  capacity: (entry: ModelEntry) => number;
  /** Requests that may wait per model; beyond that, `overloaded`. */
  maxQueue: number;
  /** Registered external models, listed beside the cache. */
  externals?: () => ExternalModel[];
  /** Execution providers chosen automatically here, best first (the device probe's last answer); `cpu` if unset. */
  providers?: () => string[];
  /** Execution providers that create a session here (asked for by name); `providers` if unset. */
  runnable?: () => string[];
  /** Why a provider cannot run here, for the error a GPU variant's load gets. */
  whyNot?: (ep: string) => string;
  now?: () => number;
}

interface Slot {
  entry: ModelEntry;
  state: 'loading' | 'loaded' | 'failed';
  loading: Promise<Runner> | null;
  runner: Runner | null;
  error: string | null;
  ep: string;
  /** The variant a load pinned; unset follows the folder's crucible.json, then the best that runs. */
  variant?: string;
  ttl: number;
  inFlight: number;
  lastUsed: number;
  timer: NodeJS.Timeout | null;
  idleWaiters: (() => void)[];
  /** Requests waiting for capacity, first come first served. */
  queue: { admit: () => void; reject: (err: Error) => void }[];
}

export interface Lease {
  entry: ModelEntry;
  runner: Runner;
  release(): void;
  /** The worker died under this lease: the model is marked failed with the reason. */
  fail(reason: string): void;
}

/**
 * The one owner of model state: which models exist on disk, which are loading, loaded or failed,
 * how many requests each is serving, and when each expires. Everything else asks it.
 */
export class Registry {
  private entries: ModelEntry[] = [];
  private readonly slots = new Map<string, Slot>();
  /** Deployments' entries (agent/deployments): kept loaded, outside the eviction budget, never listed. */
  private readonly pinned = new Map<string, ModelEntry>();
  private readonly now: () => number;

  constructor(private readonly deps: RegistryDeps) {
    this.now = deps.now ?? Date.now;
    this.refresh();
  }

  refresh(): ModelEntry[] {
    const external = (this.deps.externals?.() ?? []).map(externalEntry);
    this.entries = [...discoverModels(this.deps.modelsDir), ...external];
    return this.entries;
  }

  /** Finds a model by id, id without version, alias or folder; rescans the disk once on a miss. */
  resolve(name: string): ModelEntry {
    const own = this.pinned.get(name);
    if (own) return own;
    const providers = this.deps.providers?.() ?? ['cpu'];
    const hit = resolveEntry(this.entries, name, providers) ?? resolveEntry(this.refresh(), name, providers);
    if (!hit) throw new CrucibleError('model_not_found', `The model '${name}' does not exist in the model cache`, 'model');
    return hit;
  }

  cached(): ModelEntry[] {
    return this.refresh();
  }

  /** The runner of a loaded model, for diagnostics; null when it is not loaded. */
  runner(name: string): Runner | null {
    const slot = this.slots.get(this.resolve(name).id);
    return slot?.state === 'loaded' ? slot.runner : null;
  }

  /** Loaded models, deployments' own entries aside (they are reported by the deployments API). */
  loaded(): ModelEntry[] {
    return [...this.slots.values()].filter((s) => s.state === 'loaded' && !this.pinned.has(s.entry.id)).map((s) => s.entry);
  }

  /** Every known model with its state; `rescan` false reads no disk (for frequent callers such as metrics). */
  info(rescan = true): ModelInfo[] {
    return (rescan ? this.refresh() : this.entries).map((entry) => this.row(entry));
  }

  /**
   * Registers a deployment's own entry (an id of its own over a cached model's files, with its
   * replicas and queue limit) and loads it; it stays loaded until unpinned. A pinned entry that
   * is already loaded is reloaded with its new settings; requests in flight on the old workers
   * finish first.
   */
  async pin(entry: ModelEntry, opts: { ep?: string } = {}): Promise<ModelEntry> {
    const reload = this.slots.has(entry.id);
    this.pinned.set(entry.id, entry);
    const slot = await this.ensureLoaded(entry, { ep: opts.ep, fresh: reload });
    slot.lastUsed = this.now();
    if (slot.inFlight === 0) this.becameIdle(slot);
    return entry;
  }

  /** Forgets a deployment's entry and stops its workers (requests in flight end with shutting_down). */
  async unpin(id: string): Promise<void> {
    if (!this.pinned.has(id)) return;
    this.pinned.delete(id);
    const slot = this.slots.get(id);
    if (slot) {
      if (slot.state === 'loading') await slot.loading!.catch(() => {});
      await this.drop(this.slots.get(id) ?? slot);
    }
  }

  /** A pinned entry's state, as `info` reports it; null when it is not pinned. */
  pinnedInfo(id: string): ModelInfo | null {
    const entry = this.pinned.get(id);
    return entry ? this.row(entry) : null;
  }

  private row(entry: ModelEntry): ModelInfo {
    const slot = this.slots.get(entry.id);
    return {
      id: entry.id,
      alias: entry.alias,
      folder: entry.folder,
      path: entry.path,
      task: entry.task,
      state: slot?.state ?? 'cached',
      executionProvider: slot?.runner?.facts.executionProvider ?? null,
      error: slot?.error ?? null,
      contextLength: slot?.runner?.facts.contextLength ?? null,
      memoryBytes: slot?.runner?.facts.memoryBytes ?? null,
      fused: slot?.runner ? Boolean(slot.runner.facts.fused) : null,
      sessionMemoryBytes: slot?.runner?.facts.sessionMemoryBytes ?? null,
      kvCache: slot?.runner ? (slot.runner.facts.kvCache ?? 'host') : null,
      variant: slot?.runner?.facts.variant ?? null,
      onnxFile: slot?.runner?.facts.onnxFile ?? null,
      inFlight: slot?.inFlight ?? 0,
      queued: slot?.queue.length ?? 0,
      expiresInSeconds: slot?.state === 'loaded' && slot.inFlight === 0
        ? Math.max(0, Math.round((slot.lastUsed + slot.ttl * 1000 - this.now()) / 1000)) : null,
    };
  }

  /**
   * Loads (or reuses) a model and takes a lease on it for one request. When the model is serving
   * all it can, the request waits in the model's bounded queue; a full queue fails at once.
   */
  async acquire(name: string, signal?: AbortSignal): Promise<Lease> {
    const entry = this.resolve(name);
    const slot = await this.ensureLoaded(entry, {});
    if (slot.inFlight >= this.deps.capacity(entry)) await this.wait(slot, signal);
    else slot.inFlight++;
    this.clearTimer(slot);
    let released = false;
    return {
      entry,
      runner: slot.runner!,
      release: () => {
        if (released) return;
        released = true;
        slot.lastUsed = this.now();
        const next = slot.queue.shift();
        // The freed place passes straight to the first waiter.
        if (next) return next.admit();
        slot.inFlight--;
        if (slot.inFlight === 0) this.becameIdle(slot);
      },
      fail: (reason: string) => this.markFailed(slot, reason),
    };
  }

  private wait(slot: Slot, signal?: AbortSignal): Promise<void> {
    if (slot.queue.length >= (slot.entry.settings.maxQueue ?? this.deps.maxQueue)) {
      const err = new CrucibleError('overloaded',
        `'${slot.entry.id}' is serving ${slot.inFlight} requests with ${slot.queue.length} waiting; try again shortly`);
      err.retryAfter = Math.min(30, 1 + Math.ceil(slot.queue.length / Math.max(1, this.deps.capacity(slot.entry))));
      throw err;
    }
    if (signal?.aborted) throw new CrucibleError('cancelled', 'the request was cancelled');
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = slot.queue.indexOf(waiter);
        if (i !== -1) slot.queue.splice(i, 1);
        reject(new CrucibleError('cancelled', 'the request was cancelled while queued'));
      };
      const waiter = {
        admit: () => { signal?.removeEventListener('abort', onAbort); resolve(); },
        reject: (err: Error) => { signal?.removeEventListener('abort', onAbort); reject(err); },
      };
      slot.queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async load(name: string, opts: { ttl?: number; ep?: string; variant?: string }): Promise<ModelEntry> {
    const entry = this.resolve(name);
    const slot = await this.ensureLoaded(entry, opts);
    if (opts.ttl !== undefined) slot.ttl = opts.ttl;
    slot.lastUsed = this.now();
    if (slot.inFlight === 0) this.becameIdle(slot);
    return entry;
  }

  /** Without force, waits for the requests in flight to finish; with force, stops them now. */
  async unload(name: string, force: boolean): Promise<ModelEntry> {
    const entry = this.resolve(name);
    const slot = this.slots.get(entry.id);
    if (!slot) return entry;
    if (slot.state === 'loading') await slot.loading!.catch(() => {});
    if (!force && slot.inFlight > 0) await new Promise<void>((r) => slot.idleWaiters.push(r));
    await this.drop(slot);
    return entry;
  }

  /** Unloads every model but deployments' (those stop when their deployment is deleted). */
  async unloadAll(force = true): Promise<void> {
    await Promise.all([...this.slots.values()].filter((s) => !this.pinned.has(s.entry.id)).map((s) => this.unload(s.entry.id, force).catch(() => {})));
  }

  /**
   * The model's slot once it is loaded. The slot of a new load is recorded before anything is
   * awaited, so however many requests arrive together exactly one load runs per model and every
   * one of them waits on it and gets its result.
   */
  private async ensureLoaded(entry: ModelEntry, opts: { ttl?: number; ep?: string; variant?: string; fresh?: boolean }): Promise<Slot> {
    const slot = this.slots.get(entry.id);
    // A variant built for a provider (a catalog's generic-gpu one) runs on it unless told otherwise.
    const built = !entry.external && entry.provider !== 'cpu' ? entry.provider : undefined;
    const ep = opts.ep ?? slot?.ep ?? built ?? this.deps.defaultEp;
    if (ep === built && !opts.ep) this.checkRuns(entry, built);
    const variant = opts.variant ?? slot?.variant;
    // A load that names another provider or variant than the slot's needs a new session.
    const fits = (s: Slot) => !opts.fresh && (!opts.ep || s.ep === opts.ep) && (opts.variant === undefined || s.variant === opts.variant
      || (s.runner !== null && (s.runner.facts.variant === opts.variant || s.runner.facts.onnxFile?.endsWith(`/${opts.variant}`) === true)));
    if (slot?.state === 'loaded' && fits(slot)) return slot;
    if (slot?.state === 'loading' && fits(slot)) {
      await slot.loading;
      // Replaced while it loaded (a load on another provider): wait for the one that replaced it.
      return this.slots.get(entry.id) === slot ? slot : this.ensureLoaded(entry, opts);
    }
    // A different provider means a new session: the old one is retired once its requests finish.
    const previous = slot && slot.state !== 'failed' ? slot : null;
    // A load reads the folder's crucible.json afresh: settings changed since the last load apply.
    entry = this.pinned.get(entry.id) ?? this.refresh().find((e) => e.id === entry.id) ?? entry;
    const fresh: Slot = {
      entry, state: 'loading', loading: null, runner: null, error: null, ep, variant, ttl: opts.ttl ?? this.deps.defaultTtl,
      inFlight: 0, lastUsed: this.now(), timer: null, idleWaiters: [], queue: [],
    };
    this.slots.set(entry.id, fresh);
    fresh.loading = this.startLoad(fresh, previous);
    await fresh.loading;
    return fresh;
  }

  /** A variant built for a provider that cannot run here fails clearly, naming what does run. */
  private checkRuns(entry: ModelEntry, ep: string): void {
    const runs = this.deps.runnable?.() ?? this.deps.providers?.() ?? ['cpu'];
    if (runs.includes(ep)) return;
    const sibling = entry.alias ? this.entries.find((e) => e.alias?.toLowerCase() === entry.alias!.toLowerCase() && e.id !== entry.id && runs.includes(e.provider)) : undefined;
    throw new CrucibleError('unsupported_execution_provider',
      `'${entry.id}' is a variant for the ${ep} execution provider, which cannot run on this machine: ${this.deps.whyNot?.(ep) ?? 'it is not available'}; `
      + `providers that run here: ${runs.join(', ')}. ${sibling ? `Its variant '${sibling.id}' runs here (the alias '${entry.alias}' picks it).` : 'Load a CPU variant of the model instead.'}`, 'model');
  }

  private async startLoad(fresh: Slot, previous: Slot | null): Promise<Runner> {
    try {
      if (previous) await this.retire(previous);
      await this.makeRoom(fresh);
      const runner = await this.deps.startRunner(fresh.entry, fresh.ep, fresh.variant);
      if (this.slots.get(fresh.entry.id) !== fresh) {
        // Unloaded or shut down while it loaded: nobody holds this pool, so close it now.
        await runner.close().catch(() => {});
        throw new CrucibleError('shutting_down', `'${fresh.entry.id}' was unloaded while it loaded`);
      }
      fresh.runner = runner;
      fresh.state = 'loaded';
      fresh.loading = null;
      return runner;
    } catch (err) {
      fresh.state = 'failed';
      fresh.loading = null;
      fresh.error = (err as Error).message;
      throw err;
    }
  }

  /** Closes a slot that has been replaced, after its requests in flight finish. */
  private async retire(slot: Slot): Promise<void> {
    if (slot.state === 'loading') await slot.loading!.catch(() => {});
    if (slot.inFlight > 0) await new Promise<void>((r) => slot.idleWaiters.push(r));
    await this.drop(slot);
  }

  /** Evicts the least recently used idle model when the budget is full; busy models stay. */
  private async makeRoom(loading: Slot): Promise<void> {
    // A deployment's workers come on top of the budget: they make no room and are never evicted.
    if (this.pinned.has(loading.entry.id)) return;
    // External models hold no memory here and do not count against the budget.
    const live = [...this.slots.values()].filter((s) => s !== loading && s.state !== 'failed' && !s.entry.external && !this.pinned.has(s.entry.id));
    if (live.length < this.deps.maxLoaded) return;
    const idle = live.filter((s) => s.state === 'loaded' && s.inFlight === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    if (idle.length > 0) await this.drop(idle[0]);
  }

  private becameIdle(slot: Slot): void {
    for (const w of slot.idleWaiters.splice(0)) w();
    this.clearTimer(slot);
    if (slot.state !== 'loaded' || this.pinned.has(slot.entry.id)) return;
    slot.timer = setTimeout(() => {
      if (slot.inFlight === 0 && this.slots.get(slot.entry.id) === slot) void this.drop(slot);
    }, slot.ttl * 1000);
    slot.timer.unref();
  }

  private clearTimer(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
  }

  private markFailed(slot: Slot, reason: string): void {
    if (this.slots.get(slot.entry.id) !== slot) return;
    slot.state = 'failed';
    slot.error = reason;
    this.rejectQueue(slot, new CrucibleError('worker_crashed', `'${slot.entry.id}' failed: ${reason}`));
    const runner = slot.runner;
    slot.runner = null;
    void runner?.close().catch(() => {});
  }

  private rejectQueue(slot: Slot, err: CrucibleError): void {
    for (const w of slot.queue.splice(0)) w.reject(err);
  }

  private async drop(slot: Slot): Promise<void> {
    this.clearTimer(slot);
    this.rejectQueue(slot, new CrucibleError('shutting_down', `'${slot.entry.id}' was unloaded`));
    if (this.slots.get(slot.entry.id) === slot) this.slots.delete(slot.entry.id);
    const runner = slot.runner;
    slot.runner = null;
    await runner?.close().catch(() => {});
  }

  async close(): Promise<void> {
    await Promise.all([...this.slots.values()].map((s) => this.drop(s)));
  }
}
