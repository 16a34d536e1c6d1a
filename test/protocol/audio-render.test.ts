import t from 'tap';
import type { Transcript } from '../../protocol/audio.js';
import { jsonBody, languageName, renderSrt, renderTranscript, renderVtt, streamEvent, timestamp, verboseJsonBody } from '../../protocol/audio-render.js';
import { openaiAudioSchema } from '../helpers/openai-audio-schema.js';

const seg = (id: number, start: number, end: number, text: string) => ({
  id, seek: 0, start, end, text, tokens: [50364 + id, 400], temperature: 0, avg_logprob: -0.25, compression_ratio: 1.2, no_speech_prob: 0.01,
});

const transcript: Transcript = {
  model: 'whisper-tiny', task: 'transcribe', language: 'en', duration: 3723.4567,
  text: 'Hello there. General --> Kenobi.',
  segments: [seg(0, 0, 2.5, ' Hello there.'), seg(1, 3661.0014, 3723.4567, ' General --> Kenobi.')],
  words: [{ word: 'Hello', start: 0, end: 0.6 }, { word: 'there.', start: 0.6, end: 2.5 }],
};

t.test('timestamps: hours, minutes, seconds and milliseconds, rounded', async (t) => {
  t.equal(timestamp(0, ','), '00:00:00,000');
  t.equal(timestamp(2.5, '.'), '00:00:02.500');
  t.equal(timestamp(59.9996, ','), '00:01:00,000', 'rounds up across a minute');
  t.equal(timestamp(3661.0014, ','), '01:01:01,001');
  t.equal(timestamp(360000, '.'), '100:00:00.000', 'past 99 hours the hour field grows');
  t.equal(timestamp(-0.2, ','), '00:00:00,000', 'never negative');
});

t.test('SRT: numbered cues, comma milliseconds, trimmed text with the arrow made harmless', async (t) => {
  t.equal(renderSrt(transcript),
    '1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n01:01:01,001 --> 01:02:03,457\nGeneral -> Kenobi.\n');
  t.equal(renderSrt({ ...transcript, segments: [] }), '', 'no segments, no cues');
});

t.test('WebVTT: the header, then cues with dot milliseconds', async (t) => {
  t.equal(renderVtt(transcript),
    'WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n\n01:01:01.001 --> 01:02:03.457\nGeneral -> Kenobi.\n');
  t.equal(renderVtt({ ...transcript, segments: [] }), 'WEBVTT\n\n');
});

t.test('json and verbose_json validate against OpenAI\'s schemas', async (t) => {
  const json = jsonBody(transcript);
  t.same(json, { text: transcript.text, usage: { type: 'duration', seconds: 3724 } });
  t.ok(openaiAudioSchema('CreateTranscriptionResponseJson')(json), 'CreateTranscriptionResponseJson');
  const verbose = verboseJsonBody(transcript);
  t.equal(verbose.language, 'english', 'the language by name, as OpenAI gives it');
  t.equal(verbose.task, 'transcribe');
  t.same(verbose.words, transcript.words);
  t.ok(openaiAudioSchema('CreateTranscriptionResponseVerboseJson')(verbose), 'CreateTranscriptionResponseVerboseJson');
  t.notOk(openaiAudioSchema('CreateTranscriptionResponseVerboseJson')({ text: 'x', language: 'en' }), 'the validator does refuse: no duration');
  t.notOk('words' in verboseJsonBody({ ...transcript, words: undefined }), 'words only when asked for');

  const translation: Transcript = { ...transcript, task: 'translate', language: 'de', words: undefined };
  t.same(jsonBody(translation), { text: transcript.text });
  t.ok(openaiAudioSchema('CreateTranslationResponseJson')(jsonBody(translation)), 'CreateTranslationResponseJson');
  const tv = verboseJsonBody(translation);
  t.equal(tv.language, 'german');
  t.ok(openaiAudioSchema('CreateTranslationResponseVerboseJson')(tv), 'CreateTranslationResponseVerboseJson');
});

t.test('text, srt and vtt come as text with their content type', async (t) => {
  t.same(renderTranscript({ ...transcript, text: ' Hello. ' }, 'text'), { text: 'Hello.\n', contentType: 'text/plain; charset=utf-8' });
  t.match(renderTranscript(transcript, 'srt'), { contentType: /^text\/plain/ });
  t.match(renderTranscript(transcript, 'vtt'), { contentType: /^text\/vtt/ });
  t.same(renderTranscript(transcript, 'json'), { json: jsonBody(transcript) });
});

t.test('streamed events are OpenAI\'s transcript.text.delta and .done', async (t) => {
  const delta = streamEvent({ type: 'delta', text: ' Hello' });
  const done = streamEvent({ type: 'done', transcript });
  t.same(delta, { type: 'transcript.text.delta', delta: ' Hello' });
  t.same(done, { type: 'transcript.text.done', text: transcript.text });
  t.ok(openaiAudioSchema('TranscriptTextDeltaEvent')(delta));
  t.ok(openaiAudioSchema('TranscriptTextDoneEvent')(done));
  t.ok(openaiAudioSchema('CreateTranscriptionResponseStreamEvent')(done));
});

t.test('language names', async (t) => {
  t.equal(languageName('en'), 'english');
  t.equal(languageName('yue'), 'cantonese');
  t.equal(languageName('ht'), 'haitian creole');
  t.equal(languageName('english'), 'english', 'a name stays a name');
  t.equal(languageName('xx'), 'xx', 'an unknown code stays as it is');
});
