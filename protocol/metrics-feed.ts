/**
 * The live-metrics feed (`GET /metrics/live`): the figures `/metrics` exports, read from the same
 * prom-client metrics, as JSON for pages that chart them. One `MetricsFrame` per interval, as
 * server-sent events (`data: {...}\n\n`), or a single frame with `?once=1` for clients that poll.
 * Counters are cumulative since the agent started; rates are over the interval since the frame
 * before on the same stream (the first frame of a stream has none).
 */
export interface MetricsFrame {
  /** Milliseconds since the epoch when the frame was taken. */
  time: number;
  /** Seconds since the previous frame of this stream; null in the first. */
  intervalSeconds: number | null;
  models: ModelFigures[];
}

export interface ModelFigures {
  model: string;
  /** `crucible_tokens_generated_total`. */
  tokensTotal: number;
  /** Completion tokens per second over the interval; null in the first frame. */
  tokensPerSecond: number | null;
  /** `crucible_time_to_first_token_seconds` count and sum. */
  firstTokens: number;
  firstTokenSecondsSum: number;
  /** Mean time to first token of the requests whose first token came in the interval; null when none did. */
  ttftSeconds: number | null;
  /** `crucible_queue_depth`. */
  queued: number;
  /** `crucible_requests_in_flight`. */
  inFlight: number;
}

/** The cumulative figures one frame is computed from. */
export interface MetricsSample {
  time: number;
  models: { model: string; tokensTotal: number; firstTokens: number; firstTokenSecondsSum: number; queued: number; inFlight: number }[];
}

/** A frame from a sample and the sample before it on the same stream. */
export function metricsFrame(now: MetricsSample, before: MetricsSample | null): MetricsFrame {
  const dt = before ? (now.time - before.time) / 1000 : null;
  const prev = new Map((before?.models ?? []).map((m) => [m.model, m]));
  return {
    time: now.time,
    intervalSeconds: dt,
    models: now.models.map((m) => {
      const p = prev.get(m.model);
      const tokens = m.tokensTotal - (p?.tokensTotal ?? 0);
      const firsts = m.firstTokens - (p?.firstTokens ?? 0);
      return {
        ...m,
        tokensPerSecond: dt && dt > 0 ? tokens / dt : null,
        ttftSeconds: before && firsts > 0 ? (m.firstTokenSecondsSum - (p?.firstTokenSecondsSum ?? 0)) / firsts : null,
      };
    }),
  };
}

/** Interval bounds for `?interval=` (seconds). */
export const FEED_INTERVAL = { min: 0.25, max: 60, default: 1 };
