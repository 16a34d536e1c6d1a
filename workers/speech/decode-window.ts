/**
 * Decodes one 30-second window: the prefix (optional <|startofprev|> context, <|startoftranscript|>,
 * language, task) in one decoder step, then one token per step with the cache, until
 * <|endoftext|> or the configured maximum length. The logits pass through the rules
 * transformers.js 4.3 applies for Whisper, in its order: `suppress_tokens`,
 * `begin_suppress_tokens` at the first step, then the timestamp rules of OpenAI's
 * ApplyTimestampRules as transformers.js' WhisperTimeStampLogitsProcessor implements them
 * (<|notimestamps|> never; the first token a timestamp; timestamps in pairs except before
 * <|endoftext|>; a timestamp whenever the timestamps' total probability beats the best text token).
 * transformers.js checks no non-decreasing rule and its max_initial_timestamp check never fires, so
 * neither is applied here either: the tokens stay the reference's.
 */
import { CrucibleError } from '../../protocol/errors.js';
import type { WhisperConfig } from './whisper-config.js';
import type { DecoderState } from './whisper-model.js';

export interface WindowResult {
  /** Generated tokens, without the closing <|endoftext|>. */
  tokens: number[];
  sumLogprob: number;
  /** Probability of <|nospeech|> at the <|startoftranscript|> position (0 when the model has none). */
  noSpeechProb: number;
}

export interface WindowOptions {
  temperature: number;
  /** A uniform random source in [0, 1) for sampling. */
  random: () => number;
  cancelled: () => boolean;
}

function logSoftmax32(x: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  const ls = Math.log(sum);
  return x.map((v) => v - max - ls);
}

/** The Whisper logit rules on one row, in place. `generated` excludes the prefix. */
export function applyRules(cfg: WhisperConfig, logits: Float32Array, generated: number[]): void {
  const t = cfg.tokens;
  for (const s of cfg.suppress) if (s < logits.length) logits[s] = -Infinity;
  if (generated.length === 0) for (const s of cfg.beginSuppress) logits[s] = -Infinity;
  logits[t.noTimestamps] = -Infinity;
  const tb = t.timestampBegin;
  if (generated.length === 0) {
    logits.fill(-Infinity, 0, tb);
    return;
  }
  const n = generated.length;
  const lastTs = generated[n - 1] >= tb;
  const penultTs = n < 2 || generated[n - 2] >= tb;
  if (lastTs) {
    if (penultTs) logits.fill(-Infinity, tb);
    else logits.fill(-Infinity, 0, t.eot);
  }
  const lp = logSoftmax32(logits);
  let tsSum = 0;
  for (const v of lp.subarray(tb).map(Math.exp)) tsSum += v;
  let maxText = -Infinity;
  for (let i = 0; i < tb; i++) if (lp[i] > maxText) maxText = lp[i];
  if (Math.log(tsSum) > maxText) logits.fill(-Infinity, 0, tb);
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

function sample(x: Float32Array, temperature: number, random: () => number): number {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  const p = new Float64Array(x.length);
  let sum = 0;
  for (let i = 0; i < x.length; i++) { p[i] = Math.exp((x[i] - max) / temperature); sum += p[i]; }
  let r = random() * sum;
  for (let i = 0; i < x.length; i++) {
    r -= p[i];
    if (r <= 0 && p[i] > 0) return i;
  }
  return argmax(x);
}

export async function decodeWindow(cfg: WhisperConfig, state: DecoderState, prefix: number[], o: WindowOptions): Promise<WindowResult> {
  const maxNew = Math.max(1, cfg.maxLength - prefix.length);
  const generated: number[] = [];
  let sumLogprob = 0;
  let noSpeechProb = 0;
  let { logits, vocab } = await state.step(prefix);
  let row = logits.slice((prefix.length - 1) * vocab, prefix.length * vocab);
  const sotAt = prefix.indexOf(cfg.tokens.sot);
  if (cfg.tokens.noSpeech !== null && sotAt >= 0) {
    const lp = logSoftmax32(logits.slice(sotAt * vocab, (sotAt + 1) * vocab));
    noSpeechProb = Math.exp(lp[cfg.tokens.noSpeech]);
  }
  while (generated.length < maxNew) {
    if (o.cancelled()) throw new CrucibleError('cancelled', 'the transcription was cancelled');
    applyRules(cfg, row, generated);
    const next = o.temperature > 0 ? sample(row, o.temperature, o.random) : argmax(row);
    sumLogprob += logSoftmax32(row)[next];
    if (next === cfg.tokens.eot) break;
    generated.push(next);
    if (generated.length >= maxNew) break;
    ({ logits, vocab } = await state.step([next]));
    row = logits.slice(0, vocab);
  }
  return { tokens: generated, sumLogprob, noSpeechProb };
}

/** OpenAI's language detection: the most likely language token after <|startoftranscript|>. */
export async function detectLanguage(cfg: WhisperConfig, state: DecoderState): Promise<string> {
  const { logits } = await state.step([cfg.tokens.sot]);
  let best: [string, number] = ['en', -Infinity];
  for (const [code, id] of cfg.tokens.languages) if (logits[id] > best[1]) best = [code, logits[id]];
  return best[0];
}
