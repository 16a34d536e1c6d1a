import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import t from 'tap';
import { createHttpApp } from '../../../transports/http/app.js';
import { CONTROL_ROUTES, DATA_PLANE_ROUTES } from '../../../transports/http/control-routes.js';
import { startTestService } from '../../helpers/service.js';

t.test('/openapi.json is a valid OpenAPI document covering every control-plane route, and /docs serves Swagger UI offline', async (t) => {
  const svc = await startTestService(t, ['--api-keys', 'k']);
  const res = await fetch(`${svc.url}/openapi.json`);
  t.equal(res.status, 200, 'open without a key');
  const doc = await res.json() as any;
  const result = await new Validator().validate(doc);
  t.ok(result.valid, `valid OpenAPI ${doc.openapi}: ${JSON.stringify(result.errors ?? null).slice(0, 500)}`);
  t.equal(doc.openapi, '3.0.3');

  // Every route the control plane serves (read from the assembled app itself) is documented.
  const app = createHttpApp(svc.agent, { control: svc.control });
  const served = app.routes
    .filter((r) => r.method !== 'ALL' && (r.path.startsWith('/api/v1/') || r.path === '/healthz' || r.path === '/readyz'))
    .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
  t.ok(served.length >= 20, `${served.length} routes`);
  t.same([...new Set(served)].sort(), [...CONTROL_ROUTES].sort(), 'the routes served are the routes declared');
  for (const route of served) {
    const [method, path] = route.split(' ');
    const op = doc.paths?.[path]?.[method.toLowerCase()];
    t.ok(op, `${route} is in the document`);
    t.ok(op && Object.keys(op.responses).some((s) => s.startsWith('2')), `${route} documents its success`);
  }
  // Deployments' data planes, under both prefixes, are documented too.
  for (const prefix of ['/deployments/{name}', '/namespaces/{ns}/deployments/{name}']) {
    for (const [method, path] of DATA_PLANE_ROUTES) t.ok(doc.paths[`${prefix}${path}`]?.[method], `${method} ${prefix}${path} is in the document`);
  }
  // The documented shapes are the validated ones: the create body names the seed's fields.
  const create = doc.paths['/api/v1/namespaces/{ns}/deployments'].post.requestBody.content['application/json'].schema;
  const schema = create.$ref ? doc.components.schemas[create.$ref.split('/').pop()] : create;
  t.same(schema.required.sort(), ['name', 'spec']);
  t.ok(doc.components.schemas.CatalogModelSummary.properties.supportedCompute, 'the seed\'s summary fields');
  t.same(doc.components.schemas.ControlError.properties.error.enum.slice(0, 5), ['ValidationError', 'NotFound', 'Conflict', 'AuthenticationDisabled', 'InternalError']);

  const html = await fetch(`${svc.url}/docs`);
  t.equal(html.status, 200);
  const page = await html.text();
  t.match(page, /SwaggerUIBundle\(\{ url: '\/openapi.json'/);
  t.notMatch(page, /https?:\/\//, 'nothing is loaded from the network');
  const dist = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css']) {
    t.match(page, `/docs/${file}`);
    const asset = await fetch(`${svc.url}/docs/${file}`);
    t.equal(asset.status, 200, file);
    t.ok(Buffer.from(await asset.arrayBuffer()).equals(readFileSync(join(dist, file))), `${file} is swagger-ui-dist's`);
  }
  t.equal((await fetch(`${svc.url}/docs/..%2Fpackage.json`)).status, 404, 'nothing else is served from there');
  t.equal((await fetch(`${svc.url}/api/v1/deployments`)).status, 401, 'the API itself still needs a key');
});
