/**
 * The tiny Whisper fixture's vocabulary, laid out as Whisper's is: byte-level BPE text tokens, then
 * <|endoftext|>, <|startoftranscript|>, the language tokens, <|translate|>, <|transcribe|>,
 * <|startoflm|>, <|startofprev|>, <|nospeech|>, <|notimestamps|> and the 1501 timestamp tokens
 * <|0.00|> ... <|30.00|> (the first of them is <|notimestamps|> + 1, as every Whisper reader assumes).
 */

/** GPT-2's byte-to-character table (the ByteLevel pre-tokenizer's alphabet). */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) { bs.push(b); cs.push(256 + n); n++; }
  }
  const table: string[] = new Array(256);
  bs.forEach((b, i) => { table[b] = String.fromCodePoint(cs[i]); });
  return table;
}

const WORDS = ['the', 'a', 'cat', 'sat', 'on', 'mat', 'dog', 'ran', 'to', 'park', 'sun', 'is', 'warm', 'and', 'bright',
  'we', 'go', 'home', 'now', 'red', 'ball', 'big', 'tree', 'sky', 'blue', 'rain', 'fell', 'all', 'day', 'night', 'star',
  'moon', 'sea', 'wind', 'song', 'bird', 'flew', 'over', 'hill', 'river', 'stone', 'light', 'small', 'house', 'door',
  'open', 'quiet', 'green', 'field', 'time', 'one', 'two', 'three', 'four', 'five', 'hello', 'world', 'yes', 'no'];

export const LANGUAGES = ['en', 'zh', 'de', 'es', 'ru', 'ko', 'fr', 'ja'];

export interface WhisperVocab {
  /** token string -> id, text tokens and special tokens alike. */
  vocab: Map<string, number>;
  merges: string[];
  size: number;
  eot: number;
  sot: number;
  languages: Record<string, number>;
  translate: number;
  transcribe: number;
  startOfLm: number;
  startOfPrev: number;
  noSpeech: number;
  noTimestamps: number;
  timestampBegin: number;
  /** Ids of the whole-word text tokens (each begins with the space byte Ġ). */
  words: number[];
  /** The single-byte tokens (so every text token is a word or a word's start, after a space) and the specials a transcript never holds. */
  suppress: number[];
  spaceToken: number;
}

export function buildVocab(): WhisperVocab {
  const table = bytesToUnicode();
  const vocab = new Map<string, number>();
  for (let b = 0; b < 256; b++) vocab.set(table[b], b);
  const merges: string[] = [];
  const words: number[] = [];
  const sp = table[32];
  for (const w of WORDS) {
    let cur = sp;
    for (const ch of w) {
      const next = cur + ch;
      if (!vocab.has(next)) {
        merges.push(`${cur} ${ch}`);
        vocab.set(next, vocab.size);
      }
      cur = next;
    }
    words.push(vocab.get(cur)!);
  }
  let id = vocab.size;
  const add = (s: string) => { vocab.set(s, id); return id++; };
  const eot = add('<|endoftext|>');
  const sot = add('<|startoftranscript|>');
  const languages: Record<string, number> = {};
  for (const l of LANGUAGES) languages[l] = add(`<|${l}|>`);
  const translate = add('<|translate|>');
  const transcribe = add('<|transcribe|>');
  const startOfLm = add('<|startoflm|>');
  const startOfPrev = add('<|startofprev|>');
  const noSpeech = add('<|nospeech|>');
  const noTimestamps = add('<|notimestamps|>');
  const timestampBegin = id;
  for (let i = 0; i <= 1500; i++) add(`<|${(i * 0.02).toFixed(2)}|>`);
  const suppress = [...Array.from({ length: 256 }, (_, b) => b),
    sot, ...Object.values(languages), translate, transcribe, startOfLm, startOfPrev, noSpeech];
  return {
    vocab, merges, size: id, eot, sot, languages, translate, transcribe, startOfLm, startOfPrev, noSpeech, noTimestamps,
    timestampBegin, words, suppress, spaceToken: 32,
  };
}

/** tokenizer.json in the Hugging Face layout (byte-level BPE; timestamps are added, non-special tokens). */
export function tokenizerJson(v: WhisperVocab): unknown {
  const added = [...v.vocab.entries()].filter(([, id]) => id >= v.eot).map(([content, id]) => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: id < v.timestampBegin,
  }));
  const model = Object.fromEntries([...v.vocab.entries()].filter(([, id]) => id < v.eot));
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false,
      byte_fallback: false, ignore_merges: false, vocab: model, merges: v.merges,
    },
  };
}
