import type { Transcript, TranscriptEvent, TranscriptionFormat } from './audio.js';

/**
 * A Transcript in each of OpenAI's `response_format`s, as whisper-1 answers them: `json` is
 * `{text, usage}`, `verbose_json` adds the task, language (by name, as OpenAI writes it),
 * duration, segments and (when asked) words; `text` is the bare text; `srt` and `vtt` are
 * subtitles with one cue per segment. Also the streamed events (`transcript.text.delta` / `.done`).
 */

/** Whisper's language codes and the names OpenAI's verbose_json gives them. */
const LANGUAGE_NAMES: Record<string, string> = Object.fromEntries(
  ('en:english zh:chinese de:german es:spanish ru:russian ko:korean fr:french ja:japanese pt:portuguese tr:turkish pl:polish '
    + 'ca:catalan nl:dutch ar:arabic sv:swedish it:italian id:indonesian hi:hindi fi:finnish vi:vietnamese he:hebrew uk:ukrainian '
    + 'el:greek ms:malay cs:czech ro:romanian da:danish hu:hungarian ta:tamil no:norwegian th:thai ur:urdu hr:croatian bg:bulgarian '
    + 'lt:lithuanian la:latin mi:maori ml:malayalam cy:welsh sk:slovak te:telugu fa:persian lv:latvian bn:bengali sr:serbian '
    + 'az:azerbaijani sl:slovenian kn:kannada et:estonian mk:macedonian br:breton eu:basque is:icelandic hy:armenian ne:nepali '
    + 'mn:mongolian bs:bosnian kk:kazakh sq:albanian sw:swahili gl:galician mr:marathi pa:punjabi si:sinhala km:khmer sn:shona '
    + 'yo:yoruba so:somali af:afrikaans oc:occitan ka:georgian be:belarusian tg:tajik sd:sindhi gu:gujarati am:amharic yi:yiddish '
    + 'lo:lao uz:uzbek fo:faroese ht:haitian_creole ps:pashto tk:turkmen nn:nynorsk mt:maltese sa:sanskrit lb:luxembourgish '
    + 'my:myanmar bo:tibetan tl:tagalog mg:malagasy as:assamese tt:tatar haw:hawaiian ln:lingala ha:hausa ba:bashkir jw:javanese '
    + 'su:sundanese yue:cantonese')
    .split(' ').map((pair) => pair.split(':')).map(([code, name]) => [code, name.replace('_', ' ')]),
);

/** A language code as OpenAI's verbose_json names it (`en` -> `english`); a name or an unknown code as it is. */
export const languageName = (code: string): string => LANGUAGE_NAMES[code.toLowerCase()] ?? code;

const LANGUAGE_CODES: Record<string, string> = Object.fromEntries(Object.entries(LANGUAGE_NAMES).map(([c, n]) => [n, c]));

/** The code of a language OpenAI's verbose_json names (`english` -> `en`); a code or an unknown name as it is. */
export const languageCode = (name: string): string => LANGUAGE_CODES[name.toLowerCase()] ?? name;

/** `HH:MM:SS,mmm` (SRT) or `HH:MM:SS.mmm` (WebVTT), rounded to the millisecond. */
export function timestamp(seconds: number, marker: ',' | '.'): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  return `${pad(h)}:${pad(m)}:${pad(s)}${marker}${pad(ms % 1000, 3)}`;
}

/** A cue's text: trimmed, with `-->` (the cue-timing arrow) made harmless, as Whisper's writers do. */
const cueText = (text: string) => text.trim().replace(/-->/g, '->');

export function renderSrt(t: Transcript): string {
  return t.segments.map((s, i) => `${i + 1}\n${timestamp(s.start, ',')} --> ${timestamp(s.end, ',')}\n${cueText(s.text)}\n`).join('\n');
}

export function renderVtt(t: Transcript): string {
  return `WEBVTT\n\n${t.segments.map((s) => `${timestamp(s.start, '.')} --> ${timestamp(s.end, '.')}\n${cueText(s.text)}\n`).join('\n')}`;
}

/** OpenAI bills audio by the second, rounded up, and reports it so. */
const usage = (t: Transcript) => ({ type: 'duration' as const, seconds: Math.ceil(t.duration) });

/** `json`: a CreateTranscriptionResponseJson (transcriptions) or CreateTranslationResponseJson (translations). */
export function jsonBody(t: Transcript): { text: string; usage?: { type: 'duration'; seconds: number } } {
  return t.task === 'translate' ? { text: t.text } : { text: t.text, usage: usage(t) };
}

/** `verbose_json`: a CreateTranscriptionResponseVerboseJson / CreateTranslationResponseVerboseJson. */
export function verboseJsonBody(t: Transcript): Record<string, unknown> {
  return {
    task: t.task,
    language: languageName(t.language),
    duration: t.duration,
    text: t.text,
    segments: t.segments.map((s) => ({ ...s })),
    ...(t.task === 'transcribe' && t.words ? { words: t.words.map((w) => ({ ...w })) } : {}),
    ...(t.task === 'transcribe' ? { usage: usage(t) } : {}),
  };
}

/** The body of a non-streamed answer: JSON for the JSON formats, text with its content type for the rest. */
export function renderTranscript(t: Transcript, format: TranscriptionFormat):
  { json: Record<string, unknown> } | { text: string; contentType: string } {
  switch (format) {
    case 'json': return { json: jsonBody(t) };
    case 'verbose_json': return { json: verboseJsonBody(t) };
    case 'text': return { text: `${t.text.trim()}\n`, contentType: 'text/plain; charset=utf-8' };
    case 'srt': return { text: renderSrt(t), contentType: 'text/plain; charset=utf-8' };
    case 'vtt': return { text: renderVtt(t), contentType: 'text/vtt; charset=utf-8' };
  }
}

/** OpenAI's streamed transcription events: TranscriptTextDeltaEvent, then one TranscriptTextDoneEvent. */
export type TranscriptStreamEvent =
  | { type: 'transcript.text.delta'; delta: string }
  | { type: 'transcript.text.done'; text: string };

export function streamEvent(e: TranscriptEvent): TranscriptStreamEvent {
  return e.type === 'delta' ? { type: 'transcript.text.delta', delta: e.text } : { type: 'transcript.text.done', text: e.transcript.text };
}
