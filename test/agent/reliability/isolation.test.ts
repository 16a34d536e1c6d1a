import t from 'tap';
import { readRest } from '../../helpers/streams.js';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PiscinaRunner } from '../../../agent/model-runner.js';
import { STORIES, linkEndless, slowStream, startTestService, storyRequest } from '../../helpers/service.js';

const post = (url: string, body: unknown) => fetch(`${url}/v1/chat/completions`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

t.test('a corrupt model fails alone, is marked failed with the reason, and loads once repaired', async (t) => {
  const svc = await startTestService(t);
  const dir = join(svc.config.modelsDir, 'broken');
  cpSync(STORIES, dir, { recursive: true });
  writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ id: 'broken:1', alias: 'broken' }));
  const good = readFileSync(join(dir, 'onnx', 'model.onnx'));
  writeFileSync(join(dir, 'onnx', 'model.onnx'), good.subarray(0, 1000));

  const res = await post(svc.url, storyRequest({ model: 'broken' }));
  t.equal(res.status, 500);
  const body = await res.json() as any;
  t.equal(body.error.code, 'model_load_failed');
  const ps = await (await fetch(`${svc.url}/openai/ps`)).json() as any[];
  const broken = ps.find((m) => m.id === 'broken:1');
  t.equal(broken.state, 'failed');
  t.ok(broken.error && broken.error.length > 0, `the reason is shown: ${broken.error}`);
  t.equal((await post(svc.url, storyRequest())).status, 200, 'the other model keeps serving');

  writeFileSync(join(dir, 'onnx', 'model.onnx'), good);
  const again = await post(svc.url, storyRequest({ model: 'broken' }));
  t.equal(again.status, 200, 'a repaired model loads again');
});

t.test('a worker that dies mid-generation fails only its requests; the model reloads', async (t) => {
  const svc = await startTestService(t);
  const dir = join(svc.config.modelsDir, 'other');
  cpSync(STORIES, dir, { recursive: true });
  writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ id: 'other:1' }));
  linkEndless(svc.config.modelsDir);
  await fetch(`${svc.url}/openai/load/other`);
  await fetch(`${svc.url}/openai/load/endless`);

  const res = await post(svc.url, slowStream());
  const reader = res.body!.getReader();
  await reader.read();
  const runner = svc.registry.runner('endless') as PiscinaRunner;
  await runner.crashWorker();
  const text = await readRest(reader);
  t.match(text, /"code":"worker_crashed"/, 'the stream ends with the crash error');
  t.notMatch(text, /\[DONE\]/);

  const ps = await (await fetch(`${svc.url}/openai/ps`)).json() as any[];
  const crashed = ps.find((m) => m.id === 'endless');
  t.equal(crashed.state, 'failed');
  t.match(crashed.error, /worker stopped/);
  t.equal((await post(svc.url, storyRequest({ model: 'other' }))).status, 200, 'another model is untouched');
  const healed = await post(svc.url, slowStream({ stream: false, max_tokens: 5 }));
  t.equal(healed.status, 200, 'the crashed model loads again on the next request');
  t.equal(((await healed.json()) as any).usage.completion_tokens, 5);
});


t.test('a forced unload mid-generation ends the stream cleanly and the agent lives on', async (t) => {
  const svc = await startTestService(t);
  linkEndless(svc.config.modelsDir);
  const res = await post(svc.url, slowStream());
  const reader = res.body!.getReader();
  await reader.read();
  const unload = await fetch(`${svc.url}/openai/unload/endless?force=true`);
  t.equal(unload.status, 200);
  const text = await readRest(reader);
  t.match(text, /"code":"shutting_down"/, 'the stream ends with an error frame saying why');
  t.same(await (await fetch(`${svc.url}/openai/loadedmodels`)).json(), []);
  t.equal((await post(svc.url, storyRequest())).status, 200, 'the agent keeps serving');
});
