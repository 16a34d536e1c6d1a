import { ApiError, type MetricsFrame, call, sseData } from './api.js';
import { h, setText } from './dom.js';
import { LineChart, type Series } from './chart.js';

const WINDOW_MS = 5 * 60_000;

/**
 * Live metrics: the agent's feed `GET /metrics/live` (server-sent events, one frame a second, the
 * same figures as /metrics) drawn as four charts over the last five minutes. Read with fetch, not
 * EventSource, so the API key travels in a header. Reconnects after a failure.
 */
export function metricsView(root: HTMLElement): { start(): void } {
  const charts = {
    tokens: new LineChart('Tokens per second', (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)), 'chart-tokens'),
    ttft: new LineChart('Time to first token (ms)', (v) => v.toFixed(0), 'chart-ttft'),
    queue: new LineChart('Queue depth', (v) => v.toFixed(0), 'chart-queue'),
    inflight: new LineChart('Requests in flight', (v) => v.toFixed(0), 'chart-inflight'),
  };
  const totals = h('tbody');
  const status = h('p', { class: 'muted', id: 'metrics-status', 'aria-live': 'polite' }, 'connecting…');
  root.append(
    h('h2', {}, 'Live metrics'),
    status,
    h('div', { class: 'charts' }, ...Object.values(charts).map((c) => c.root)),
    h('div', { class: 'card' },
      h('h3', {}, 'Since the agent started'),
      h('div', { class: 'scroll' }, h('table', { id: 'metrics-totals' },
        h('thead', {}, h('tr', {}, ...['Model', 'Tokens generated', 'Requests with a first token', 'Queue', 'In flight'].map((c) => h('th', { scope: 'col' }, c)))),
        totals))),
    h('p', { class: 'muted' }, 'From GET /metrics/live (server-sent events of the figures /metrics exports; ?once=1 for a single JSON frame).'),
  );

  const frames: MetricsFrame[] = [];
  const render = () => {
    const now = frames.at(-1)?.time ?? Date.now();
    const names = [...new Set(frames.flatMap((f) => f.models.map((m) => m.model)))].sort();
    const series = (pick: (m: MetricsFrame['models'][number]) => number | null): Series[] => names.map((name) => ({
      name,
      points: frames.map((f) => {
        const m = f.models.find((x) => x.model === name);
        return { t: f.time, v: m ? pick(m) : null };
      }),
    }));
    charts.tokens.set(series((m) => m.tokensPerSecond), now, WINDOW_MS);
    charts.ttft.set(series((m) => (m.ttftSeconds === null ? null : m.ttftSeconds * 1000)), now, WINDOW_MS);
    charts.queue.set(series((m) => m.queued), now, WINDOW_MS);
    charts.inflight.set(series((m) => m.inFlight), now, WINDOW_MS);
    const last = frames.at(-1);
    totals.replaceChildren(...(last?.models ?? []).map((m) => h('tr', { 'data-model': m.model },
      h('th', { scope: 'row' }, m.model), h('td', { 'data-col': 'tokens' }, String(m.tokensTotal)), h('td', {}, String(m.firstTokens)),
      h('td', {}, String(m.queued)), h('td', {}, String(m.inFlight)))));
  };

  let running = false;
  const loop = async () => {
    for (;;) {
      try {
        const res = await call('/metrics/live?interval=1');
        setText(status, 'live');
        for await (const data of sseData(res)) {
          const frame = JSON.parse(data) as MetricsFrame;
          frames.push(frame);
          while (frames.length && frames[0].time < frame.time - WINDOW_MS) frames.shift();
          if (!root.hidden) render();
        }
        setText(status, 'the feed ended; reconnecting…');
      } catch (err) {
        setText(status, err instanceof ApiError && err.status === 401 ? 'waiting for an API key…' : `feed failed (${(err as Error).message}); retrying…`);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  new MutationObserver(() => { if (!root.hidden) render(); }).observe(root, { attributes: true, attributeFilter: ['hidden'] });
  return {
    start() {
      if (running) return;
      running = true;
      void loop();
    },
  };
}
