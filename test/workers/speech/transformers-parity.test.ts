import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clip, noise } from '../../helpers/wav.js';
import { writeWhisperFixture } from '../../helpers/whisper-fixture.js';
import { reference, transcriber } from '../../helpers/whisper-reference.js';

const root = mkdtempSync(join(tmpdir(), 'cru-whisper-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const fx = writeWhisperFixture(root);
const opts = { task: 'transcribe' as const, language: 'en', temperature: 0, words: false, cancelled: () => false };
const words = (s: string) => s.split(/\s+/).filter(Boolean);

t.test("short clips: the same greedy tokens as transformers.js' automatic-speech-recognition pipeline", async (t) => {
  const ref = await reference(fx.hf);
  const { t: mine, close } = await transcriber(fx.hf);
  t.teardown(async () => { await ref.dispose(); await close(); });
  const clips: [string, Float32Array][] = [['glide', clip(7, 300, 900, 3)], ['low tone', clip(4, 150, 160, 5)], ['noise', noise(9, 11, 0.2)], ['high chirp', clip(12, 2000, 5000, 8)]];
  for (const [name, audio] of clips) {
    const out = await mine.run(audio, opts);
    const pipe = await ref.pipeline(audio);
    const prefix = out.windows[0].prefix;
    t.same(pipe.tokens.slice(0, prefix.length), prefix, `${name}: the same prefix`);
    // The pipeline's first pass keeps what Crucible's first window keeps (a later pass of its
    // seek loop, within the same 30 s of features, is not Crucible's: see the README).
    const kept = out.segments.filter((s) => s.seek === 0).flatMap((s) => s.tokens);
    t.same(pipe.tokens.slice(prefix.length, prefix.length + kept.length), kept, `${name}: ${kept.length} tokens as the pipeline's`);
    const timestamps = kept.filter((x) => x >= fx.vocab.timestampBegin).length;
    t.ok(timestamps >= 4 && timestamps < kept.length, `${name}: ${timestamps} timestamp tokens among ${kept.length}`);
    if (out.windows.length === 1 && pipe.tokens.length === prefix.length + kept.length + 1) {
      t.equal(out.text, pipe.text.trim(), `${name}: the same text`);
    }
  }
});

t.test('a clip longer than 30 s: each window gives the tokens transformers.js gives on that window, stitched without seams', async (t) => {
  const ref = await reference(fx.hf);
  const hf = await transcriber(fx.hf);
  const genai = await transcriber(fx.genai);
  t.teardown(async () => { await ref.dispose(); await hf.close(); await genai.close(); });
  const audio = clip(95, 200, 1200, 4);
  for (const prompt of [undefined, 'the moon and the sea']) {
    const out = await hf.t.run(audio, { ...opts, prompt });
    t.ok(out.windows.length >= 3, `${out.windows.length} windows over 95 s`);
    for (const w of out.windows) {
      const start = w.seek * 160;
      t.same(await ref.window(audio.subarray(start, start + 480000), w.prefix), w.tokens, `window at ${w.seek / 100} s: the reference's tokens`);
    }
    const between = (prefix: number[]) => (prefix[0] === fx.vocab.startOfPrev ? prefix.slice(1, prefix.indexOf(fx.vocab.sot)) : []);
    const promptTokens = between(out.windows[0].prefix);
    t.equal(promptTokens.length > 0, Boolean(prompt), 'a prompt is <|startofprev|> context');
    // Seams: each window starts where the previous one's kept text ends, the windows reach the
    // end of the audio, and the text is every kept segment once, in order.
    for (let i = 1; i < out.windows.length; i++) {
      const prev = out.segments.filter((s) => s.seek === out.windows[i - 1].seek);
      const lastStamp = prev.at(-1)!.tokens.at(-1)! - fx.vocab.timestampBegin;
      t.equal(out.windows[i].seek, out.windows[i - 1].seek + Math.min(lastStamp * 2, 3000), `window ${i} starts at the last kept timestamp`);
      const keptSoFar = out.segments.filter((s) => s.seek < out.windows[i].seek).flatMap((s) => s.tokens.filter((x) => x < fx.vocab.eot));
      t.same(between(out.windows[i].prefix), [...promptTokens, ...keptSoFar].slice(-223), `window ${i}'s context is the text kept so far`);
    }
    const last = out.windows.at(-1)!;
    t.ok(last.seek < 9500 && out.segments.at(-1)!.end <= 95, 'the last window reaches the end');
    // What each window kept, decoded once, is the text: a window's tail after its last timestamp
    // pair (a segment cut by the window's end) is not in it; the next window decodes it again.
    const kept = out.segments.flatMap((s) => s.tokens.filter((x) => x < fx.vocab.eot));
    t.same(words(out.text), words(hf.tokenizer.decode(kept)), 'no word lost or repeated at a seam');
    const cut = out.windows.slice(0, -1).filter((w) => w.tokens.length > out.segments.filter((s) => s.seek === w.seek).flatMap((s) => s.tokens).length);
    t.ok(cut.length > 0, `${cut.length} windows ended mid-segment: their tails were decoded again after the seam`);
    const g = await genai.t.run(audio, { ...opts, prompt });
    t.same(g.windows, out.windows, 'the GenAI layout of the same weights gives the same tokens, window by window');
  }
});

t.test('sampling is seeded and differs from greedy; a missing language is detected', async (t) => {
  const { t: mine, close } = await transcriber(fx.hf);
  t.teardown(close);
  const audio = clip(6, 400, 800, 9);
  const greedy = await mine.run(audio, opts);
  const a = await mine.run(audio, { ...opts, temperature: 1 });
  const b = await mine.run(audio, { ...opts, temperature: 1 });
  t.same(a.windows, b.windows, 'the same seed, the same tokens');
  t.notSame(a.windows[0].tokens, greedy.windows[0].tokens, 'temperature 1 samples other tokens');
  const detected = await mine.run(audio, { ...opts, language: undefined });
  t.ok(Object.keys(fx.vocab.languages).includes(detected.language), `detected '${detected.language}'`);
  t.equal(detected.windows[0].prefix[1], fx.vocab.languages[detected.language], 'its token leads the window');
});
