import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { TOKEN_TYPE } from '../../bench/gguf.js';
import { loadLlamaCpp } from '../../bench/llamacpp.js';
import { GREEDY, STORIES, tempHome } from '../helpers/service.js';

t.test('stories260k as GGUF: llama.cpp reads it, tokenizes like Crucible and continues with the known greedy text', async (t) => {
  const dir = tempHome('crb-gguf-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'stories260k.gguf');
  const lc = await loadLlamaCpp(STORIES, { threads: 1, parallel: 2, ggufPath: path });
  t.teardown(() => lc.dispose());

  const info = await readGgufFileInfo(path);
  t.equal(info.version, 3);
  const meta = info.metadata as any;
  t.equal(meta.general.architecture, 'llama');
  t.match(meta.llama, {
    context_length: 512, embedding_length: 64, block_count: 5, feed_forward_length: 172,
    attention: { head_count: 8, head_count_kv: 4 }, rope: { dimension_count: 8 }, vocab_size: 512,
  });
  t.equal(meta.tokenizer.ggml.model, 'llama');
  t.same(meta.tokenizer.ggml.token_type.slice(0, 4), [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control, TOKEN_TYPE.byte]);
  t.equal(info.tensorInfo?.length, 2 + 5 * 9 + 1);
  t.same(info.tensorInfo?.find((x) => x.name === 'blk.0.attn_k.weight')?.dimensions, [64, 32], 'dims innermost first: [in, out]');

  t.same(lc.encode('Once upon a time'), [1, 403, 407, 261, 378]);
  const ids = await lc.greedy('Once upon a time', 50);
  t.equal(ids.length, 50);
  const text = Buffer.from(ids.flatMap(lc.tokenBytes)).toString('utf8');
  t.ok(text.length > 100 && GREEDY.startsWith(text), `50 greedy tokens are the known continuation: ${JSON.stringify(text)}`);

  // Two sequences of one context decoded together give each prompt's own greedy tokens.
  const [a, b] = await lc.greedyParallel(['Once upon a time', 'The little dog'], 50);
  t.same(a, ids);
  t.same(b, await lc.greedy('The little dog', 50));
});
