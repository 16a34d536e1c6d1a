import t from 'tap';
import sharp from 'sharp';
import { PipeClient } from '../../../clients/typescript/pipe-client.js';
import { item, renderText } from '../../helpers/images.js';
import { startTestService } from '../../helpers/service.js';

const predict = (url: string, body: unknown, query = '') => fetch(`${url}/v1/predict${query}`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

t.test('POST /v1/predict reads printed text from a PNG', async (t) => {
  const svc = await startTestService(t);
  const png = await renderText(['Invoice 4711 paid', 'Total due: 129.50 EUR']);
  const res = await predict(svc.url, { items: [item(png)] });
  t.equal(res.status, 200);
  const body = await res.json() as any;
  t.equal(body.model, 'pp-ocrv4-generic-cpu:1');
  t.equal(body.task, 'ocr');
  const lines = body.predictions[0].lines;
  t.same(lines.map((l: any) => l.text), ['Invoice 4711 paid', 'Total due: 129.50 EUR']);
  t.equal(body.predictions[0].text, 'Invoice 4711 paid\nTotal due: 129.50 EUR');
  for (const l of lines) {
    t.ok(l.confidence > 0.8, `confident: ${l.confidence}`);
    t.equal(l.box.length, 4);
  }
  t.ok(lines[0].box[0][1] < lines[1].box[0][1], 'lines come top to bottom');

  // JPEG too, and several items in one request.
  const jpeg = await sharp(await renderText(['second image'])).jpeg({ quality: 90 }).toBuffer();
  const two = await (await predict(svc.url, { items: [item(jpeg, 'image/jpeg'), item(png)] })).json() as any;
  t.equal(two.predictions.length, 2);
  t.equal(two.predictions[0].text, 'second image');

  const meta = await (await fetch(`${svc.url}/v1/model`)).json() as any;
  t.equal(meta.name, 'pp-ocrv4-generic-cpu:1');
  t.same(meta.sessions.map((s: any) => s.name), ['det', 'cls', 'rec']);
  t.match(meta.sessions[0].inputs[0], { name: String, type: 'float32', shape: Array });
  t.same(await (await fetch(`${svc.url}/openai/loadedmodels`)).json(), ['pp-ocrv4-generic-cpu:1'], 'loaded like any model');
});

t.test('a classifier declared only by its manifest', async (t) => {
  const svc = await startTestService(t);
  const upright = await renderText(['orientation check'], { width: 420 });
  const flipped = await renderText(['orientation check'], { width: 420, rotate: 180 });
  const r = await (await predict(svc.url, { model: 'textline-orientation', items: [item(upright), item(flipped)] })).json() as any;
  t.equal(r.task, 'image-classification');
  t.equal(r.predictions[0].labels[0].label, '0', 'upright text');
  t.equal(r.predictions[1].labels[0].label, '180', 'upside-down text');
});

t.test('bad predictive input gets a clear 4xx in the seeds\' predictive error shape', async (t) => {
  const svc = await startTestService(t, ['--max-image-pixels', '4000000']);
  const png = await renderText(['x']);
  const huge = await sharp({ create: { width: 3000, height: 3000, channels: 3, background: 'white' } }).png().toBuffer();
  const cases: [string, unknown, number, string][] = [
    ['empty item list', { items: [] }, 400, 'items'],
    ['no items', {}, 400, 'items'],
    ['not base64', { items: [{ content_type: 'image/png', encoder: 'base64', data: '%%% not base64 %%%' }] }, 400, 'items[0].data'],
    ['not an image', { items: [{ content_type: 'image/png', encoder: 'base64', data: Buffer.from('hello, world').toString('base64') }] }, 400, 'items[0].data'],
    ['unsupported content type', { items: [{ ...item(png), content_type: 'image/gif' }] }, 415, 'items[0].content_type'],
    ['unknown encoder', { items: [{ ...item(png), encoder: 'hex' }] }, 400, 'items[0].encoder'],
    ['enormous image', { items: [item(huge)] }, 413, 'items[0].data'],
    ['a chat model', { model: 'stories260k', items: [item(png)] }, 400, 'model'],
    ['unknown model', { model: 'no-such-model', items: [item(png)] }, 404, 'model'],
  ];
  for (const [name, body, status, param] of cases) {
    const res = await predict(svc.url, body);
    t.equal(res.status, status, `${name}: ${status}`);
    const b = await res.json() as any;
    t.type(b.detail, 'string', `${name}: detail`);
    t.equal(b.param, param, `${name}: names ${param}`);
  }
  t.equal((await predict(svc.url, { items: [item(png)] })).status, 200, 'still serving');
});

t.test('the predictive queue-full payload with Retry-After', async (t) => {
  const svc = await startTestService(t, ['--max-queue', '0']);
  const png = await renderText(['busy busy busy', 'line two', 'line three']);
  const results = await Promise.all(Array.from({ length: 4 }, () => predict(svc.url, { items: [item(png), item(png)] })));
  const full = results.filter((r) => r.status === 503);
  t.ok(full.length >= 1, `${full.length} of 4 refused while the one worker was busy`);
  const body = await full[0].json() as any;
  t.match(body, { error: /^Queue full: /, queue_depth: Number, retry_after: Number });
  t.ok(Number(full[0].headers.get('retry-after')) >= 1);
  t.ok(results.some((r) => r.status === 200));
});

t.test('predict and model metadata over the pipe', async (t) => {
  const svc = await startTestService(t);
  const pipe = await PipeClient.connect(svc.pipeName);
  t.teardown(() => pipe.close());
  const r = await pipe.predict({ items: [item(await renderText(['over the pipe']))] as any });
  t.equal((r.predictions[0] as any).text, 'over the pipe');
  t.equal((await pipe.modelMetadata()).task, 'ocr');
  await t.rejects(pipe.predict({ items: [] }), { code: 'invalid_request', param: 'items' });
});
