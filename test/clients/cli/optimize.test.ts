import t from 'tap';
import { existsSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { crucible } from '../../helpers/run.js';
import { SHARED_MODELS, startTestService } from '../../helpers/service.js';

const post = (url: string, body: unknown) => fetch(`${url}/v1/chat/completions`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

t.test('model optimize --int4 writes bench15m-int4 after reporting its agreement, and the agent serves it', async (t) => {
  const svc = await startTestService(t);
  symlinkSync(join(SHARED_MODELS, 'bench15m'), join(svc.config.modelsDir, 'bench15m'));
  const r = await crucible(svc.home, 'model', 'optimize', 'bench15m', '--int4');
  t.equal(r.status, 0, r.stderr);
  const agreement = /Greedy-token agreement with the original: ([\d.]+)% of (\d+) positions; largest logit difference ([\d.]+)/.exec(r.stdout);
  t.ok(agreement, r.stdout);
  t.ok(Number(agreement![1]) > 50 && Number(agreement![2]) > 100, `agreement ${agreement?.[1]}% over ${agreement?.[2]} positions`);
  const sizes = /Weights: ([\d.]+) MB -> ([\d.]+) MB/.exec(r.stdout)!;
  t.ok(Number(sizes[2]) < Number(sizes[1]) / 3, `weights shrink: ${sizes[1]} -> ${sizes[2]} MB`);
  const dir = join(svc.config.modelsDir, 'bench15m-int4');
  const manifest = JSON.parse(readFileSync(join(dir, 'crucible.json'), 'utf8'));
  t.match(manifest, { id: 'bench15m-int4', quantizedFrom: 'bench15m', quantization: { bits: 4, blockSize: 32, accuracyLevel: 4 } });
  const graph = readFileSync(join(dir, 'onnx', 'model.onnx'));
  for (const op of ['MatMulNBits', 'GroupQueryAttention', 'GatherBlockQuantized', 'SkipSimplifiedLayerNormalization']) t.ok(graph.includes(op), `the graph uses ${op}`);

  const res = await post(svc.url, { model: 'bench15m-int4', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8, temperature: 0, ignore_eos: true });
  t.equal(res.status, 200);
  t.equal(((await res.json()) as any).usage.completion_tokens, 8);
  const ps = ((await (await fetch(`${svc.url}/openai/ps`)).json()) as any[]).find((m) => m.id === 'bench15m-int4');
  t.match(ps, { state: 'loaded', fused: false });
});

t.test('--min-agreement above what int4 reaches refuses and writes nothing', async (t) => {
  const svc = await startTestService(t);
  const r = await crucible(svc.home, 'model', 'optimize', 'stories260k', '--int4', '--min-agreement', '0.999');
  t.not(r.status, 0);
  t.match(r.stderr, /agrees with the original on [\d.]+% of greedy tokens, below --min-agreement 99\.9%; nothing was written/);
  t.notOk(existsSync(join(svc.config.modelsDir, 'stories260k-int4')));
  t.same(readdirSync(svc.config.modelsDir).filter((f) => f.includes('int4')), [], 'no partial folder is left');
});
