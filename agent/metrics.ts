import { Counter, Gauge, Histogram, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';
import type { MetricsSample } from '../protocol/metrics-feed.js';

/**
 * The service's Prometheus metrics. Each agent has its own prom-client registry, so several agents
 * in one process (tests) do not share counters.
 */
export class Metrics {
  readonly registry = new PromRegistry();
  readonly httpRequests = new Counter({ name: 'crucible_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [this.registry] });
  readonly pipeRequests = new Counter({ name: 'crucible_pipe_requests_total', help: 'Pipe requests by operation and outcome', labelNames: ['op', 'outcome'], registers: [this.registry] });
  readonly tokens = new Counter({ name: 'crucible_tokens_generated_total', help: 'Completion tokens generated', labelNames: ['model'], registers: [this.registry] });
  readonly promptTokens = new Counter({ name: 'crucible_prompt_tokens_total', help: 'Prompt tokens processed', labelNames: ['model'], registers: [this.registry] });
  readonly ttft = new Histogram({
    name: 'crucible_time_to_first_token_seconds', help: 'Time from request to first token', labelNames: ['model'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
  });
  readonly decodeRate = new Histogram({
    name: 'crucible_decode_tokens_per_second', help: 'Decode rate of each completed generation', labelNames: ['model'],
    buckets: [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000], registers: [this.registry],
  });
  /** Reads the live model state at scrape time; set by the service. */
  sample: (() => { id: string; state: string; queued: number; inFlight: number; memoryBytes: number | null; executionProvider?: string | null; kvCache?: string | null }[]) | null = null;
  readonly queueDepth: Gauge = new Gauge({
    name: 'crucible_queue_depth', help: 'Requests waiting for a model', labelNames: ['model'], registers: [this.registry],
    // The first state gauge refreshes them all, so one scrape reads the registry once.
    collect: () => this.refreshState(),
  });
  readonly inFlight = new Gauge({ name: 'crucible_requests_in_flight', help: 'Requests a model is serving', labelNames: ['model'], registers: [this.registry] });
  readonly loadedModels = new Gauge({ name: 'crucible_loaded_models', help: 'Models loaded now', registers: [this.registry] });
  readonly modelMemory = new Gauge({ name: 'crucible_model_memory_bytes', help: 'Resident memory a loaded model added', labelNames: ['model'], registers: [this.registry] });
  readonly modelProvider = new Gauge({
    name: 'crucible_model_execution_provider', help: 'Each loaded model\'s execution provider and where its KV caches live (always 1)',
    labelNames: ['model', 'execution_provider', 'kv_cache'], registers: [this.registry],
  });
  readonly downloadBytes = new Counter({ name: 'crucible_download_bytes_total', help: 'Bytes downloaded into the cache', labelNames: ['model'], registers: [this.registry] });
  readonly modelLoads = new Counter({ name: 'crucible_model_loads_total', help: 'Model loads started, by model and outcome', labelNames: ['model', 'outcome'], registers: [this.registry] });
  readonly authFailures = new Counter({ name: 'crucible_auth_failures_total', help: 'Requests refused by authentication or authorization, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly rejected = new Counter({ name: 'crucible_requests_rejected_total', help: 'Requests refused because a queue was full', labelNames: ['model'], registers: [this.registry] });

  private refreshState(): void {
    const models = this.sample?.() ?? [];
    for (const g of [this.queueDepth, this.inFlight, this.modelMemory, this.modelProvider]) g.reset();
    let loaded = 0;
    for (const m of models) {
      if (m.state === 'loaded') loaded++;
      if (m.state !== 'loaded' && m.queued === 0 && m.inFlight === 0) continue;
      this.queueDepth.set({ model: m.id }, m.queued);
      this.inFlight.set({ model: m.id }, m.inFlight);
      if (m.memoryBytes !== null) this.modelMemory.set({ model: m.id }, m.memoryBytes);
      if (m.state === 'loaded' && m.executionProvider) this.modelProvider.set({ model: m.id, execution_provider: m.executionProvider, kv_cache: m.kvCache ?? 'host' }, 1);
    }
    this.loadedModels.set(loaded);
  }

  constructor() {
    // Process memory, CPU and event-loop lag, as crucible_process_* and crucible_nodejs_*.
    collectDefaultMetrics({ register: this.registry, prefix: 'crucible_' });
  }

  /**
   * The live-metrics feed's figures (protocol/metrics-feed.ts), read from the same prom-client
   * metrics as the Prometheus text: tokens generated, time to first token, queue depth, in flight.
   */
  async liveSample(): Promise<MetricsSample> {
    // The queue gauge's collect refreshes the in-flight gauge too: read it first.
    const queued = await this.queueDepth.get();
    const [tokens, ttft, inFlight] = await Promise.all([this.tokens.get(), this.ttft.get(), this.inFlight.get()]);
    const rows = new Map<string, MetricsSample['models'][number]>();
    const row = (model: string) => {
      let r = rows.get(model);
      if (!r) rows.set(model, r = { model, tokensTotal: 0, firstTokens: 0, firstTokenSecondsSum: 0, queued: 0, inFlight: 0 });
      return r;
    };
    for (const v of tokens.values) row(String(v.labels.model)).tokensTotal = v.value;
    for (const v of ttft.values) {
      const name = (v as { metricName?: string }).metricName;
      if (name?.endsWith('_count')) row(String(v.labels.model)).firstTokens = v.value;
      else if (name?.endsWith('_sum')) row(String(v.labels.model)).firstTokenSecondsSum = v.value;
    }
    for (const v of queued.values) row(String(v.labels.model)).queued = v.value;
    for (const v of inFlight.values) row(String(v.labels.model)).inFlight = v.value;
    return { time: Date.now(), models: [...rows.values()].sort((a, b) => a.model.localeCompare(b.model)) };
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
