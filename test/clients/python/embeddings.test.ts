import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { writeTinyEncoder } from '../../helpers/encoder-models.js';
import { REPO, startTestService } from '../../helpers/service.js';

const HERE = join(REPO, 'test', 'clients', 'python');

function python(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('python3', args, { encoding: 'utf8', timeout: 120_000, env: { ...process.env, CRUCIBLE_PURE_MSGPACK: '1' } }, (err, stdout, stderr) =>
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

t.test("the Python SDK's get_embedding_client, sync and async, over the pipe and HTTP", async (t) => {
  const svc = await startTestService(t);
  writeTinyEncoder(join(svc.config.modelsDir, 'tiny-mean'), { pooling: 'mean', manifest: { id: 'tiny-mean:1', alias: 'tiny-mean', matryoshka: true } });
  const texts = ['Once upon a time', 'The cat sat on the mat.'];
  const floats = (await (await fetch(`${svc.url}/v1/embeddings`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny-mean', input: texts, encoding_format: 'float' }),
  })).json()) as { data: { embedding: number[] }[]; usage: { prompt_tokens: number } };
  for (const mode of ['sync', 'async']) {
    for (const transport of ['pipe', 'http']) {
      const r = await python([join(HERE, 'sdk_embed.py'), mode, svc.home, transport, 'tiny-mean']);
      t.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
      const what = `${mode} over the ${transport}`;
      out.vectors.forEach((v: number[], i: number) => t.ok(v.every((x, k) => x === Math.fround(floats.data[i].embedding[k])), `${what}: vector ${i} bit for bit`));
      t.same(out.one, out.vectors[1], `${what}: embed_one`);
      t.equal(out.cut, 4, `${what}: dimensions`);
      t.equal(out.empty, 'invalid_request', `${what}: an empty input is refused`);
      if (mode === 'sync') t.equal(out.tokens, floats.usage.prompt_tokens, `${what}: usage`);
    }
  }
});
