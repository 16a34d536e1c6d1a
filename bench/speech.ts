/**
 * Transcription real-time factor on the tiny Whisper fixture (random weights: the text is noise,
 * the pipeline's cost is real): wall time over audio time, through the agent's operation (speech
 * worker, log-mel, encoder per window, decoder with KV caches) and, for the same windows,
 * transformers.js' generate. Standalone: `node build/bench/speech.js [--runs N]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../agent/config.js';
import { startService } from '../agent/service.js';
import { clip, writeWav } from '../test/helpers/wav.js';
import { writeWhisperFixture } from '../test/helpers/whisper-fixture.js';
import { reference } from '../test/helpers/whisper-reference.js';
import { median } from './stats.js';

export interface SpeechFigures {
  audioSeconds: number;
  windows: number;
  decodedTokens: number;
  /** Wall seconds per audio second through agent.transcribe (lower is faster). */
  rtf: number;
  /** transformers.js' generate on the same windows with the same prefixes (features included). */
  peerRtf: number;
  runs: number;
}

export async function benchSpeech(runs = 3, seconds = 95): Promise<SpeechFigures> {
  const home = mkdtempSync(join(tmpdir(), 'crb-speech-'));
  const config = loadConfig(['--home', home, '--threads', '1'], {});
  const service = await startService(config, { logToStderr: false });
  try {
    const fx = writeWhisperFixture(config.modelsDir);
    const audio = clip(seconds, 200, 1200, 4);
    const bytes = writeWav(audio);
    const req = { model: 'whisper-tiny-hf', task: 'transcribe' as const, language: 'en', audio: { bytes, filename: 'bench.wav' } };
    await service.agent.transcribe(req); // warm-up: loads the model
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await service.agent.transcribe(req);
      times.push((performance.now() - t0) / 1000);
    }
    // The windows and prefixes the agent used, from the same code in this thread.
    const { transcriber } = await import('../test/helpers/whisper-reference.js');
    const mine = await transcriber(fx.hf);
    const out = await mine.t.run(audio, { task: 'transcribe', language: 'en', temperature: 0, words: false, cancelled: () => false });
    await mine.close();
    const ref = await reference(fx.hf);
    const peer: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      for (const w of out.windows) await ref.window(audio.subarray(w.seek * 160, w.seek * 160 + 480000), w.prefix);
      peer.push((performance.now() - t0) / 1000);
    }
    await ref.dispose();
    return {
      audioSeconds: seconds, windows: out.windows.length, decodedTokens: out.windows.reduce((a, w) => a + w.tokens.length + 1, 0),
      rtf: Math.round((median(times) / seconds) * 10000) / 10000, peerRtf: Math.round((median(peer) / seconds) * 10000) / 10000, runs,
    };
  } finally {
    await service.close();
    rmSync(home, { recursive: true, force: true });
  }
}

export const speechRows = (s: SpeechFigures): string[] => [
  `\nwhisper-tiny fixture (random weights, d_model 64, 2+2 layers; ${s.audioSeconds} s of audio, ${s.windows} windows, ${s.decodedTokens} decoder steps; median of ${s.runs}, 1 thread)`,
  '| figure | real-time factor (wall s / audio s) | x faster than real time |',
  '| --- | ---: | ---: |',
  `| Crucible agent.transcribe (speech worker: WAV, log-mel, encoder, greedy decoder with timestamps) | ${s.rtf} | ${(1 / s.rtf).toFixed(1)} |`,
  `| transformers.js generate on the same windows and prefixes | ${s.peerRtf} | ${(1 / s.peerRtf).toFixed(1)} |`,
];

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--runs');
  const s = await benchSpeech(i > 0 ? Number(process.argv[i + 1]) : 3);
  console.log(speechRows(s).join('\n'));
  console.log(JSON.stringify(s));
}
