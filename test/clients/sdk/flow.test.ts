import t from 'tap';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CrucibleManager } from '../../../clients/typescript/sdk/index.js';
import { GREEDY, linkEndless, startTestService, tempHome, until } from '../../helpers/service.js';
import { startVariantCatalog } from '../../helpers/variant-catalog.js';

const user = (content: string) => [{ role: 'user', content }];

/** A manager in each mode, on a fresh agent whose catalog is `catalogUrl`; and that agent's models folder. */
async function managerFor(t: { teardown(fn: () => unknown): void }, mode: 'embedded' | 'pipe' | 'http', catalogUrl: string) {
  if (mode === 'embedded') {
    const home = tempHome('cru-sdk-');
    const mgr = await CrucibleManager.create({ home, catalogUrl });
    t.teardown(async () => {
      await mgr.close();
      rmSync(home, { recursive: true, force: true });
    });
    return { mgr, modelsDir: join(home, 'cache', 'models') };
  }
  const svc = await startTestService(t, ['--catalog-url', catalogUrl]);
  const mgr = await CrucibleManager.connect({ home: svc.home, transport: mode });
  t.teardown(() => mgr.close());
  return { mgr, modelsDir: svc.config.modelsDir };
}

t.test("seed 004's flow in every mode", async (t) => {
  const cat = await startVariantCatalog();
  t.teardown(() => cat.close());

  for (const mode of ['embedded', 'pipe', 'http'] as const) {
    t.test(mode, async (t) => {
      const { mgr, modelsDir } = await managerFor(t, mode, cat.catalogUrl);
      t.equal(mgr.mode, mode);
      const catalog = mgr.catalog;

      // List available models, grouped by alias with their variants.
      const models = await catalog.listModels();
      const listed = models.find((m) => m.alias === 'tiny');
      t.ok(listed, 'the alias is listed');
      t.same(listed!.variants.map((v) => v.id).sort(), ['tiny-cuda-gpu:1', 'tiny-generic-cpu:1']);
      t.equal(listed!.variants.find((v) => v.id === 'tiny-cuda-gpu:1')!.runnable, false, 'the CUDA variant is listed, marked as not runnable here');
      t.ok(models.some((m) => m.alias === 'stories260k'), 'the bundled model is listed');

      // Get a model by alias: the variant this machine can run, and why.
      const model = await catalog.getModel('tiny');
      t.equal(model.id, 'tiny-generic-cpu:1');
      t.same(model.selection, { id: 'tiny-generic-cpu:1', reason: 'device' });
      t.same((await catalog.getModel('tiny-cuda-gpu:1')).selection, { id: 'tiny-cuda-gpu:1', reason: 'explicit' });
      t.same((await catalog.getModel('tiny', { device: 'gpu' })).selection, { id: 'tiny-cuda-gpu:1', reason: 'explicit' });
      t.same((await catalog.getModel('stories260k')).selection.reason, 'only');
      await t.rejects(catalog.getModel('tinny'), { code: 'model_not_found', message: /did you mean 'tiny'/ });
      t.equal(await catalog.findModel('no-such-model'), undefined);
      t.equal((await catalog.getLatestVersion(model)).id, 'tiny-generic-cpu:1');

      t.equal(await model.isCached(), false, 'not cached yet');
      t.notOk((await catalog.getCachedModels()).some((v) => v.id === model.id));

      // A download cancelled half-way through the model file (it arrives slowly) leaves nothing behind.
      const ac = new AbortController();
      const seen: number[] = [];
      await t.rejects(model.download({
        signal: ac.signal,
        onProgress: (percent, p) => {
          seen.push(percent);
          if (p.file === 'onnx/model.onnx' && p.bytesDone >= (p.bytesTotal ?? Infinity) / 2 && !ac.signal.aborted) ac.abort();
        },
      }), { code: 'cancelled' });
      t.ok(seen.length > 0 && seen.at(-1)! < 100, `stopped part way (${seen.at(-1)?.toFixed(1)}%)`);
      t.ok(await until(() => !existsSync(join(modelsDir, '.partial', 'tiny-generic-cpu-1'))), 'the partial files are gone');
      t.notOk(existsSync(join(modelsDir, 'tiny-generic-cpu-1')), 'nothing reached the cache');
      t.equal(await model.isCached(), false);

      // Download again, to completion.
      const percents: number[] = [];
      await model.download({ onProgress: (p) => percents.push(p) });
      t.equal(percents.at(-1), 100);
      t.ok(percents.every((p, i) => i === 0 || p >= percents[i - 1] || percents[i - 1] === 100), 'progress only grows within a file');
      t.equal(await model.isCached(), true);
      t.ok((await catalog.getCachedModels()).some((v) => v.id === 'tiny-generic-cpu:1'), 'in the cached list');
      t.match(await model.path(), /tiny-generic-cpu-1$/);
      await model.download(); // cached: returns at once

      await model.load();
      t.equal(await model.isLoaded(), true);
      t.ok((await catalog.getLoadedModels()).some((v) => v.id === model.id));

      // Streamed chat gives the bundled model's known greedy text.
      const chat = model.getChatClient({ temperature: 0, maxTokens: 40 });
      let text = '';
      for await (const chunk of chat.completeChatStreaming(user('Once upon a time'))) text += chunk.choices[0]?.delta.content ?? '';
      t.ok(text.length > 30 && GREEDY.startsWith(text), `greedy text: ${JSON.stringify(text)}`);
      t.equal((await chat.completeChat(user('Once upon a time'))).choices[0].message.content, text, 'the same text without streaming');
      t.ok(await chat.countTokens(user('Once upon a time')) > 3);

      // A stream left after 5 tokens stops on the agent; the model stays loaded and serves the next chat.
      linkEndless(modelsDir);
      const endless = await catalog.getModel('endless');
      await endless.load();
      const long = endless.getChatClient({ temperature: 0, maxTokens: 1_000_000, ignoreEos: true });
      const busy = async () => (await mgr.client.modelInfo()).find((m) => m.id === 'endless')!;
      let tokens = 0;
      for await (const chunk of long.completeChatStreaming(user('x'))) {
        if (chunk.choices[0]?.delta.content) tokens++;
        if (tokens === 5) break;
      }
      t.equal(tokens, 5);
      t.ok(await until(async () => (await busy()).inFlight === 0), 'ps shows the generation stopped');
      t.equal((await busy()).state, 'loaded', 'the model stays loaded');
      const next = await long.completeChat(user('x'), { maxTokens: 5 });
      t.equal(next.choices[0].finish_reason, 'length', 'the next chat works');
      t.equal(next.usage.completion_tokens, 5);

      // Aborting a stream's signal cancels it the same way.
      const stop = new AbortController();
      let got = 0;
      await t.rejects((async () => {
        for await (const chunk of long.completeChatStreaming(user('x'), { signal: stop.signal })) {
          if (chunk.choices[0]?.delta.content && ++got === 5) stop.abort();
        }
      })(), { code: 'cancelled' });
      t.ok(await until(async () => (await busy()).inFlight === 0), 'the aborted stream stopped on the agent');
      t.equal(await endless.isLoaded(), true);

      await model.unload();
      t.equal(await model.isLoaded(), false);
      t.equal(await endless.isLoaded(), true, 'unloading one variant leaves the others');
    });
  }
});
