import { CrucibleError } from '../../../protocol/errors.js';
import type { GrammarSpec } from '../../../protocol/grammar.js';
import type { CompiledGrammar, GrammarCompiler, GrammarMatcher as Matcher } from '@mlc-ai/web-xgrammar';
import type { Vocabulary } from '../text-codec.js';
import { xgrammar } from './xgrammar.js';


/**
 * JSON on one line with XGrammar's fixed separators (`, ` and `: `): no free whitespace, which small
 * models otherwise spend their tokens on. (This build's binding refuses every object and array when
 * asked for other separators or an undefined indent; -1 is its "no indent".)
 */
const NO_INDENT = -1;
const CACHE_SIZE = 64;


/**
 * The schema's grammar in EBNF with bounded digit runs: JSON's own number grammar lets a model
 * write digits forever (a 260K-parameter model did, to max_tokens, in 5% of the corpus); here a
 * number has at most 16 integer digits, 15 decimals and a 3-digit exponent. Every output it
 * allows is still valid against the schema.
 */
async function schemaGrammar(schema: unknown, strict: boolean): Promise<string> {
  const ebnf = await xgrammar().Testings._jsonSchemaToEBNF(JSON.stringify(schema), false, NO_INDENT, undefined, strict);
  return ebnf
    .replace(/^basic_integer ::= .*$/m, 'basic_integer ::= ("0" | "-"? [1-9] [0-9]{0,15})')
    .replace(/^basic_number ::= .*$/m, 'basic_number ::= "-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,15})? ([eE] [+-]? [0-9]{1,3})?');
}

/** One sequence's grammar state: the mask for its next token, advanced by each token it takes. */
export class Constraint {
  constructor(private readonly matcher: Matcher) {}

  /** Allowed next tokens as a bitmask (bit set = allowed). */
  mask(): Promise<Int32Array> {
    return this.matcher.getNextTokenBitmask();
  }

  /** Advances with a sampled token; false when the grammar did not allow it. */
  accept(token: number): boolean {
    return this.matcher.acceptToken(token);
  }

  /** The output is complete (the model's end token was accepted at the grammar's end). */
  get complete(): boolean {
    return this.matcher.isTerminated();
  }

  dispose(): void {
    this.matcher.dispose();
  }
}

/**
 * One model's grammar compiler: the tokenizer info is built once, and each grammar is compiled
 * once per model (kept for the most recent 64), so a schema repeated across requests costs its
 * compile only the first time.
 */
export class Grammars {
  private compiler: Promise<GrammarCompiler> | null = null;
  private readonly cache = new Map<string, Promise<CompiledGrammar>>();
  /** Milliseconds each compile took, for the benchmark and the logs. */
  readonly compileMs: number[] = [];

  constructor(private readonly vocabulary: Vocabulary, private readonly vocabSize: number, private readonly stopIds: number[]) {}

  private getCompiler() {
    this.compiler ??= (async () => {
      const xg = xgrammar();
      const { pieces, kind, prependSpace } = this.vocabulary;
      const info = await xg.TokenizerInfo.createTokenizerInfo(pieces, kind, prependSpace, this.vocabSize, this.stopIds);
      return xg.GrammarCompiler.createGrammarCompiler(info);
    })();
    return this.compiler;
  }

  private compile(spec: GrammarSpec): Promise<CompiledGrammar> {
    const key = JSON.stringify(spec);
    let hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    hit = (async () => {
      const compiler = await this.getCompiler();
      const t0 = performance.now();
      try {
        switch (spec.kind) {
          case 'json_object':
            return await compiler.compileGrammar(await schemaGrammar({ type: 'object' }, false));
          case 'json_schema':
            return await compiler.compileGrammar(await schemaGrammar(spec.schema, spec.strict));
          case 'tool_tags': {
            const xg = xgrammar();
            const tags = spec.functions.map((f) => new xg.StructuralTagItem(`${spec.begin}{"name": "${f.name}", "arguments": `, f.parameters, `}${spec.end}`));
            return await compiler.compileStructuralTag(tags, [spec.begin]);
          }
        }
      } catch (err) {
        throw new CrucibleError('invalid_request', `the grammar engine cannot compile this format: ${(err as Error).message ?? err}`, 'response_format');
      } finally {
        this.compileMs.push(performance.now() - t0);
        if (this.compileMs.length > 256) this.compileMs.shift();
      }
    })();
    this.cache.set(key, hit);
    hit.catch(() => this.cache.delete(key));
    while (this.cache.size > CACHE_SIZE) {
      const oldest = this.cache.keys().next().value as string;
      void this.cache.get(oldest)?.then((g) => g.dispose(), () => {});
      this.cache.delete(oldest);
    }
    return hit;
  }

  async constraint(spec: GrammarSpec): Promise<Constraint> {
    const compiled = await this.compile(spec);
    return new Constraint(await xgrammar().GrammarMatcher.createGrammarMatcher(compiled));
  }
}
