import { readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';

/**
 * XGrammar compiled to WebAssembly (@mlc-ai/web-xgrammar), the engine behind structured output in
 * vLLM and SGLang. Its package declares `"type": "module"` but ships a UMD bundle, which neither
 * `import` nor `require` loads as it is; compiled as a CommonJS module it works in Node.
 */
export type XGrammar = typeof import('@mlc-ai/web-xgrammar');

let loaded: XGrammar | null = null;

export function xgrammar(): XGrammar {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const file = require.resolve('@mlc-ai/web-xgrammar/lib/index.js');
  const m = new Module(file) as Module & { _compile(source: string, filename: string): void; paths: string[] };
  m.filename = file;
  m.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(file);
  m._compile(readFileSync(file, 'utf8'), file);
  loaded = m.exports as XGrammar;
  return loaded;
}
