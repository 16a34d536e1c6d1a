import t from 'tap';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSrt, renderVtt } from '../../../protocol/audio-render.js';
import type { Transcript } from '../../../protocol/audio.js';
import { encode } from '../../helpers/audio.js';
import { crucible } from '../../helpers/run.js';
import { tempHome } from '../../helpers/service.js';
import { clip, writeWav } from '../../helpers/wav.js';
import { writeWhisperFixture } from '../../helpers/whisper-fixture.js';

t.test('crucible transcribe prints the transcript in each format', async (t) => {
  const home = tempHome();
  t.teardown(async () => {
    await crucible(home, 'service', 'stop');
    rmSync(home, { recursive: true, force: true });
  });
  const models = join(home, 'cache', 'models');
  mkdirSync(models, { recursive: true });
  writeWhisperFixture(models);
  const wav = writeWav(clip(7, 300, 900, 3));
  const file = join(home, 'clip.wav');
  writeFileSync(file, wav);
  t.equal((await crucible(home, 'service', 'start')).status, 0);

  const verbose = await crucible(home, 'transcribe', file, '--model', 'whisper-tiny-hf', '--format', 'verbose_json');
  t.equal(verbose.status, 0, verbose.stderr);
  const v = JSON.parse(verbose.stdout) as Transcript & { words: unknown[] };
  t.equal(v.duration, 7);
  t.ok(v.text.length > 0 && v.segments.length > 0 && v.words.length > 0, 'text, segments and words');
  const asTranscript = { ...v, model: 'whisper-tiny-hf', task: 'transcribe' as const };

  const text = await crucible(home, 'transcribe', file, '--model', 'whisper-tiny-hf');
  t.equal(text.stdout, `${v.text.trim()}\n`, 'text by default');
  const srt = await crucible(home, 'transcribe', file, '--model', 'whisper-tiny-hf', '--format', 'srt');
  t.equal(srt.stdout, renderSrt(asTranscript), 'SRT of the same segments');
  const vtt = await crucible(home, 'transcribe', file, '--format', 'vtt');
  t.equal(vtt.stdout, renderVtt(asTranscript), 'without --model: the speech model in the cache');
  const json = await crucible(home, 'transcribe', file, '--model', 'whisper-tiny-hf', '--format', 'json');
  t.same(JSON.parse(json.stdout), { text: v.text, usage: { type: 'duration', seconds: 7 } });

  const mp3 = join(home, 'clip.mp3');
  writeFileSync(mp3, encode(wav, 'mp3'));
  const fromMp3 = await crucible(home, 'transcribe', mp3, '--model', 'whisper-tiny-hf', '--language', 'en');
  t.equal(fromMp3.status, 0, fromMp3.stderr);
  t.ok(fromMp3.stdout.trim().length > 0, 'an MP3 file too');
  const translated = await crucible(home, 'transcribe', file, '--model', 'whisper-tiny-hf', '--translate', '--format', 'verbose_json');
  t.equal(JSON.parse(translated.stdout).task, 'translate');

  const notAudio = join(home, 'notes.txt');
  writeFileSync(notAudio, 'not audio at all');
  const bad = await crucible(home, 'transcribe', notAudio, '--model', 'whisper-tiny-hf');
  t.equal(bad.status, 1);
  t.match(bad.stderr, /accepted audio formats are WAV/);
  t.equal((await crucible(home, 'transcribe', file, '--format', 'docx')).status, 2, 'an unknown --format');
  t.equal((await crucible(home, 'transcribe')).status, 2, 'no file');
});
