import t from 'tap';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GREEDY, STORIES, startTestService, storiesOf, storyRequest } from '../../helpers/service.js';

const chat = async (url: string, model = 'stories260k') => {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(storyRequest({ model, max_tokens: 40 })),
  });
  return ((await res.json()) as any).choices[0].message.content as string;
};

t.test('a plain export is fused at its first load, cached, and answers the same', async (t) => {
  const svc = await startTestService(t);
  const text = await chat(svc.url);
  t.ok(GREEDY.startsWith(text.trimEnd()), JSON.stringify(text));
  const ps = await (await fetch(`${svc.url}/openai/ps`)).json() as any[];
  t.equal(storiesOf(ps).fused, true);
  const cached = join(svc.config.modelsDir, '.fused', 'stories260k', 'onnx', 'model.onnx');
  t.ok(existsSync(cached), 'the fused graph is cached in the cache folder');
  t.notOk((await (await fetch(`${svc.url}/openai/models`)).json() as string[]).some((m) => m.includes('fused')), 'the cache copy is not listed as a model');
});

t.test('--fuse 0 loads exports as they are', async (t) => {
  const svc = await startTestService(t, ['--fuse', '0']);
  const text = await chat(svc.url);
  t.ok(GREEDY.startsWith(text.trimEnd()));
  t.equal(storiesOf(await (await fetch(`${svc.url}/openai/ps`)).json() as any[]).fused, false);
  t.notOk(existsSync(join(svc.config.modelsDir, '.fused')));
});

t.test('a model the fuser refuses loads as it is, and the refusal is remembered', async (t) => {
  const svc = await startTestService(t);
  const dir = join(svc.config.modelsDir, 'scaled');
  cpSync(STORIES, dir, { recursive: true });
  writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ id: 'scaled:1' }));
  // The engine reads genai_config.json; the fuser reads config.json's rope settings and refuses scaling.
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, rope_scaling: { type: 'linear', factor: 2 } }));
  const text = await chat(svc.url, 'scaled');
  t.ok(GREEDY.startsWith(text.trimEnd()), 'served from the plain export');
  const ps = await (await fetch(`${svc.url}/openai/ps`)).json() as any[];
  t.equal(ps.find((m) => m.id === 'scaled:1').fused, false);
  t.match(readFileSync(join(svc.config.modelsDir, '.fused', 'scaled.unfusable'), 'utf8'), /rope scaling is not supported/);
});
