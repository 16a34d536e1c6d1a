import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import type { ChatMessage } from '../../protocol/chat.js';
import { CrucibleError } from '../../protocol/errors.js';

// Used only when a model ships no chat template: the plain concatenation base models expect.
const FALLBACK_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% if not loop.last %}\n{% endif %}{% endfor %}";

/**
 * Foundry's `inference_model.json` prompt template: one pattern per role with `{Content}`, and
 * `prompt` for the last user message, which ends with the assistant's opening.
 */
interface FoundryTemplate { system?: string | null; user?: string | null; assistant?: string | null; prompt?: string | null }

function readFoundryTemplate(dir: string): FoundryTemplate | null {
  const path = join(dir, 'inference_model.json');
  if (!existsSync(path)) return null;
  try {
    const t = JSON.parse(readFileSync(path, 'utf8')).PromptTemplate;
    return t && typeof t === 'object' && (typeof t.prompt === 'string' || typeof t.user === 'string') ? t as FoundryTemplate : null;
  } catch (err) {
    throw new CrucibleError('model_load_failed', `cannot read ${path}: ${(err as Error).message}`);
  }
}

function renderFoundry(t: FoundryTemplate, messages: ChatMessage[]): string {
  const fill = (pattern: string | null | undefined, content: string) => (pattern ?? '{Content}').split('{Content}').join(content);
  const text = (m: ChatMessage) => (typeof m.content === 'string' ? m.content : '');
  let out = '';
  messages.forEach((m, i) => {
    const last = i === messages.length - 1;
    if (last && m.role === 'user' && t.prompt) { out += fill(t.prompt, text(m)); return; }
    const pattern = m.role === 'system' ? t.system : m.role === 'assistant' ? t.assistant : t.user;
    out += fill(pattern, text(m));
    // Any other last message still hands the turn to the assistant.
    if (last && t.assistant) out += t.assistant.split('{Content}')[0];
  });
  return out;
}

export interface Vocabulary {
  /** Token strings by id ('' where the file names none). */
  pieces: string[];
  kind: 'byte_fallback' | 'byte_level' | 'raw';
  prependSpace: boolean;
}

interface TokenizerJson {
  model?: { vocab?: unknown; byte_fallback?: boolean };
  added_tokens?: { id: number; content: string }[];
  normalizer?: unknown;
  pre_tokenizer?: unknown;
  decoder?: unknown;
}

function readVocabulary(t: TokenizerJson): Vocabulary {
  const pieces: string[] = [];
  const v = t.model?.vocab;
  if (Array.isArray(v)) (v as [string, number][]).forEach((e, i) => { pieces[i] = e[0]; });
  else if (v && typeof v === 'object') for (const [p, id] of Object.entries(v as Record<string, number>)) pieces[id] = p;
  for (const added of t.added_tokens ?? []) pieces[added.id] = added.content;
  for (let i = 0; i < pieces.length; i++) pieces[i] ??= '';
  const shape = JSON.stringify([t.pre_tokenizer, t.decoder]);
  const kind = t.model?.byte_fallback ? 'byte_fallback' : shape.includes('ByteLevel') ? 'byte_level' : 'raw';
  const prependSpace = JSON.stringify([t.normalizer, t.pre_tokenizer]).includes('"prepend":"▁"') || /"prepend_scheme":"(always|first)"/.test(shape);
  return { pieces, kind, prependSpace };
}

const tokenText = (t: unknown): string | undefined =>
  typeof t === 'string' ? t : t && typeof t === 'object' && typeof (t as any).content === 'string' ? (t as any).content : undefined;

/** The model's tokenizer and chat template: messages to prompt ids, ids back to text. */
export class TextCodec {
  private readonly tokenizer: Tokenizer;
  private readonly template: Template | null;
  private readonly foundry: FoundryTemplate | null;
  private readonly specials: Record<string, string | undefined>;
  /**
   * Token pieces by id, how they spell bytes, and whether the tokenizer prepends a space: for
   * log-probabilities' `token` and `bytes`, and for the grammar engine's view of the vocabulary.
   */
  readonly vocabulary: Vocabulary;
  /** Whether the chat template renders `tools` (so the model can be shown the functions). */
  readonly templateTakesTools: boolean;
  /** The tool-call syntax the template teaches, when it is Hermes-style `<tool_call>` blocks. */
  readonly toolTags: { begin: string; end: string } | null;

  constructor(dir: string) {
    let tokenizerJson: object;
    let config: Record<string, unknown> = {};
    try {
      tokenizerJson = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
      const configPath = join(dir, 'tokenizer_config.json');
      if (existsSync(configPath)) config = JSON.parse(readFileSync(configPath, 'utf8'));
      this.tokenizer = new Tokenizer(tokenizerJson, config);
    } catch (err) {
      throw new CrucibleError('model_load_failed', `cannot load the tokenizer in ${dir}: ${(err as Error).message}`);
    }
    this.vocabulary = readVocabulary(tokenizerJson as TokenizerJson);
    const source = typeof config.chat_template === 'string' ? config.chat_template
      : Array.isArray(config.chat_template) ? (config.chat_template as { name: string; template: string }[]).find((t) => t.name === 'default')?.template
      : undefined;
    this.templateTakesTools = /\btools\b/.test(source ?? '');
    this.toolTags = this.templateTakesTools && (source ?? '').includes('<tool_call>') ? { begin: '<tool_call>\n', end: '\n</tool_call>' } : null;
    // A folder without a chat template may carry Foundry's prompt template instead.
    this.foundry = source ? null : readFoundryTemplate(dir);
    try {
      this.template = this.foundry ? null : new Template(source ?? FALLBACK_TEMPLATE);
    } catch (err) {
      throw new CrucibleError('model_load_failed', `the chat template in ${dir} does not parse: ${(err as Error).message}`);
    }
    this.specials = {
      bos_token: tokenText(config.bos_token),
      eos_token: tokenText(config.eos_token),
      unk_token: tokenText(config.unk_token),
      pad_token: tokenText(config.pad_token),
    };
  }

  renderPrompt(messages: ChatMessage[], tools?: unknown[]): string {
    if (this.foundry) return renderFoundry(this.foundry, messages);
    try {
      return this.template!.render({ messages, add_generation_prompt: true, ...this.specials, ...(tools && tools.length ? { tools } : {}) });
    } catch (err) {
      throw new CrucibleError('invalid_request', `the model's chat template rejected the messages: ${(err as Error).message}`, 'messages');
    }
  }

  /**
   * Templates that write the BOS token themselves must not get a second one from the tokenizer;
   * templates that do not (plain base models) rely on it.
   */
  encodePrompt(messages: ChatMessage[], tools?: unknown[]): number[] {
    const text = this.renderPrompt(messages, tools);
    const bos = this.specials.bos_token;
    const addSpecial = !(bos && text.startsWith(bos));
    return this.tokenizer.encode(text, { add_special_tokens: addSpecial }).ids;
  }

  /** The bytes one token stands for, as OpenAI's `logprobs[].bytes`. */
  tokenBytes(id: number): number[] {
    const piece = this.vocabulary.pieces[id] ?? '';
    if (this.vocabulary.kind === 'byte_fallback') {
      const hex = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
      if (hex) return [parseInt(hex[1], 16)];
      return [...Buffer.from(piece.replace(/\u2581/g, ' '), 'utf8')];
    }
    if (this.vocabulary.kind === 'byte_level') return [...piece].map((ch) => byteLevelDecoder().get(ch) ?? 63);
    return [...Buffer.from(piece, 'utf8')];
  }

  /** Raw text, as a base model sees it: the tokenizer adds its own special tokens (BOS). */
  encodeText(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: true }).ids;
  }

  decode(ids: number[]): string {
    return this.tokenizer.decode(ids, { skip_special_tokens: true });
  }

  /** A decoder for one sequence, primed with the prompt's last token so leading spaces survive. */
  streamDecoder(promptIds: number[]): StreamDecoder {
    return new StreamDecoder(this, promptIds.slice(-1));
  }
}

/**
 * Incremental detokenization with a sliding window: decodes [prefix..end] against [prefix..read]
 * and emits the difference, holding back text that ends in U+FFFD (an incomplete byte sequence).
 * Work per token is bounded by the window, not by the sequence length.
 */
export class StreamDecoder {
  private ids: number[];
  private prefix = 0;
  private read: number;

  constructor(private readonly codec: TextCodec, context: number[]) {
    this.ids = [...context];
    this.read = this.ids.length;
  }

  push(id: number): string {
    this.ids.push(id);
    const before = this.codec.decode(this.ids.slice(this.prefix, this.read));
    const after = this.codec.decode(this.ids.slice(this.prefix));
    if (after.length <= before.length || after.endsWith('\uFFFD')) return '';
    // Drop the consumed window so ids never grows with the sequence.
    this.ids = this.ids.slice(this.read);
    this.prefix = 0;
    this.read = this.ids.length;
    return after.slice(before.length);
  }

  /** Whatever is still held back at the end of generation. */
  flush(): string {
    const before = this.codec.decode(this.ids.slice(this.prefix, this.read));
    const after = this.codec.decode(this.ids.slice(this.prefix));
    this.ids = [];
    this.prefix = this.read = 0;
    return after.length > before.length ? after.slice(before.length) : '';
  }
}

let byteLevel: Map<string, number> | null = null;

/** GPT-2's byte-level alphabet: the character each byte is written as in a byte-level vocabulary. */
function byteLevelDecoder(): Map<string, number> {
  if (byteLevel) return byteLevel;
  const bytes: number[] = [];
  for (let b = 33; b <= 126; b++) bytes.push(b);
  for (let b = 161; b <= 172; b++) bytes.push(b);
  for (let b = 174; b <= 255; b++) bytes.push(b);
  const chars = [...bytes];
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bytes.includes(b)) { bytes.push(b); chars.push(256 + n++); }
  byteLevel = new Map(bytes.map((b, i) => [String.fromCharCode(chars[i]), b]));
  return byteLevel;
}
