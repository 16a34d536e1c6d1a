import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ErrorObject } from 'ajv/dist/2020.js';
import { openaiSchema } from '../../helpers/openai-schema.js';
import { REPO, STORIES_ID, startTestService, storyRequest } from '../../helpers/service.js';

/*
 * Every OpenAI-style answer validates against OpenAI's own OpenAPI document: the component
 * schemas in test/fixtures/openai-openapi (an unmodified extract; see its README), loaded by
 * test/helpers/openai-schema.ts.
 */

const fixture = JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'openai-openapi', 'components.json'), 'utf8')) as { openapi: string };
const validator = openaiSchema;

const describe = (errors: ErrorObject[] | null | undefined) =>
  (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`).join('; ');

type Asserts = Pick<Test, 'ok'>;

/** One assertion: `value` validates against the named schema; on failure, ajv's errors and the value. */
function conforms(t: Asserts, schema: string, value: unknown, what: string): boolean {
  const v = validator(schema);
  const ok = v(value) as boolean;
  return t.ok(ok, ok ? `${what} is a valid ${schema}` : `${what} is not a valid ${schema}: ${describe(v.errors)}`,
    ok ? {} : { errors: v.errors, value });
}

/**
 * A streamed /completions chunk. The document's one schema for the endpoint's 200,
 * CreateCompletionResponse, requires finish_reason to be a reason, yet the "Streaming" example
 * the document gives for POST /completions (its x-oaiMeta) shows a chunk with
 * `"finish_reason": null`, which is what OpenAI sends while a choice runs. So a chunk conforms
 * when its only departures from the schema are null finish_reasons; the test also checks the
 * chunk that ends the choice, and the usage chunk, with no allowance.
 */
function conformsAsCompletionChunk(t: Asserts, chunk: any, what: string): boolean {
  const v = validator('CreateCompletionResponse');
  if (v(chunk)) return t.ok(true, `${what} is a valid CreateCompletionResponse`);
  const errors = [...(v.errors ?? [])];
  const running = (e: ErrorObject) => {
    const m = /^\/choices\/(\d+)\/finish_reason$/.exec(e.instancePath);
    return m !== null && chunk.choices[Number(m[1])]?.finish_reason === null;
  };
  const rest = errors.filter((e) => !running(e));
  return t.ok(rest.length === 0, rest.length === 0
    ? `${what} is a valid CreateCompletionResponse but for the null finish_reason of a running choice`
    : `${what} is not a valid CreateCompletionResponse: ${describe(rest)}`, rest.length === 0 ? {} : { errors, value: chunk });
}

const post = (url: string, path: string, body: unknown) => fetch(`${url}${path}`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body),
});

/** A streamed answer's JSON chunks; it must end with `data: [DONE]`. */
async function sseChunks(t: Asserts, res: Response): Promise<any[]> {
  t.ok(res.status === 200 && /text\/event-stream/.test(res.headers.get('content-type') ?? ''), `a 200 event stream (${res.status})`);
  const frames = (await res.text()).split('\n\n').filter((f) => f.trim() !== '');
  t.ok(frames.at(-1) === 'data: [DONE]', 'the stream ends with [DONE]');
  return frames.filter((f) => f !== 'data: [DONE]').map((f) => {
    if (!f.startsWith('data: ')) throw new Error(`not a data frame: ${JSON.stringify(f)}`);
    return JSON.parse(f.slice('data: '.length));
  });
}

const weatherTools = [{
  type: 'function',
  function: {
    name: 'get_weather', description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city', 'days'], additionalProperties: false },
  },
}];
// Forced calls sample (the existing client tests' seed), so the arguments close well inside max_tokens.
const forcedCall = { tools: weatherTools, tool_choice: 'required', temperature: 1, seed: 11, max_tokens: 100 };
const colorFormat = {
  type: 'json_schema',
  json_schema: { name: 'color', strict: true, schema: { type: 'object', properties: { color: { enum: ['red', 'blue'] } }, required: ['color'], additionalProperties: false } },
};

t.test('the fixture loads: every reference resolves and an empty object is refused', async (t) => {
  t.equal(fixture.openapi, '3.1.0');
  for (const name of ['CreateChatCompletionResponse', 'CreateChatCompletionStreamResponse', 'CreateCompletionResponse', 'ListModelsResponse', 'Model', 'ErrorResponse']) {
    const v = validator(name);
    t.notOk(v({}), `${name} refuses {}`);
  }
  // The adaptation keeps nullable fields' other constraints: a chunk's finish_reason is null or one of the reasons.
  const chunk = (finish: unknown) => ({ id: 'x', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: {}, finish_reason: finish }] });
  t.ok(validator('CreateChatCompletionStreamResponse')(chunk(null)), 'finish_reason null is allowed in a chunk');
  t.notOk(validator('CreateChatCompletionStreamResponse')(chunk('bored')), 'an unknown finish_reason is not');
});

t.test('chat completions validate as CreateChatCompletionResponse', async (t) => {
  const svc = await startTestService(t);
  const chat = async (what: string, body: unknown) => {
    const res = await post(svc.url, '/v1/chat/completions', body);
    const json = await res.json() as any;
    t.equal(res.status, 200, `${what}: 200`);
    conforms(t, 'CreateChatCompletionResponse', json, what);
    return json;
  };

  const plain = await chat('a plain chat', storyRequest());
  t.equal(plain.choices[0].finish_reason, 'length');

  const lp = await chat('a chat with logprobs and top_logprobs 2', storyRequest({ max_tokens: 12, logprobs: true, top_logprobs: 2 }));
  t.equal(lp.choices[0].logprobs?.content?.length, 12, 'it carries one logprob entry per token');
  t.equal(lp.choices[0].logprobs?.content?.[0]?.top_logprobs?.length, 2, 'with two alternatives each');

  const tools = await chat('a chat with forced tool calls', storyRequest(forcedCall));
  t.equal(tools.choices[0].finish_reason, 'tool_calls');
  t.ok(tools.choices[0].message.tool_calls?.length >= 1, 'it holds a tool call');

  const structured = await chat('a chat with a json_schema response_format', storyRequest({ response_format: colorFormat }));
  t.match(JSON.parse(structured.choices[0].message.content), { color: /^(red|blue)$/ });

  const two = await chat('a chat with n 2', storyRequest({ n: 2, max_tokens: 20 }));
  t.same(two.choices.map((c: any) => c.index), [0, 1]);
});

t.test('every streamed chat chunk validates as CreateChatCompletionStreamResponse', async (t) => {
  const svc = await startTestService(t);
  const stream = async (what: string, body: Record<string, unknown>) => {
    const chunks = await sseChunks(t, await post(svc.url, '/v1/chat/completions', { ...body, stream: true }));
    t.ok(chunks.length > 1, `${what}: ${chunks.length} chunks`);
    let valid = 0;
    chunks.forEach((c, i) => { if (conforms(t, 'CreateChatCompletionStreamResponse', c, `${what}, chunk ${i}`)) valid++; });
    t.equal(valid, chunks.length, `${what}: every chunk conforms`);
    return chunks;
  };

  const plain = await stream('a plain stream', storyRequest());
  t.equal(plain.at(-1).choices[0].finish_reason, 'length');

  const tools = await stream('a stream with tool calls', storyRequest(forcedCall));
  t.ok(tools.some((c) => c.choices[0]?.delta?.tool_calls?.length), 'tool call deltas arrived');
  t.equal(tools.at(-1).choices[0].finish_reason, 'tool_calls');

  const lp = await stream('a stream with logprobs', storyRequest({ max_tokens: 12, logprobs: true, top_logprobs: 2 }));
  t.ok(lp.some((c) => c.choices[0]?.logprobs?.content?.length), 'logprobs arrived');

  const usage = await stream('a stream with include_usage', storyRequest({ stream_options: { include_usage: true } }));
  const last = usage.at(-1);
  t.same(last.choices, [], 'the usage chunk has no choices');
  t.match(last.usage, { prompt_tokens: 5, completion_tokens: 40, total_tokens: 45 });
});

t.test('completions validate as CreateCompletionResponse, whole and streamed', async (t) => {
  const svc = await startTestService(t);
  const body = { model: 'stories260k', prompt: 'Once upon a time', temperature: 0, max_tokens: 20 };

  const res = await post(svc.url, '/v1/completions', body);
  t.equal(res.status, 200);
  const whole = await res.json() as any;
  conforms(t, 'CreateCompletionResponse', whole, 'a completion');
  t.equal(whole.choices[0].finish_reason, 'length');

  const two = await (await post(svc.url, '/v1/completions', { ...body, n: 2, prompt: ['Once upon a time', 'The cat'] })).json() as any;
  conforms(t, 'CreateCompletionResponse', two, 'a completion of two prompts with n 2');
  t.equal(two.choices.length, 4);

  // The document gives /completions one 200 schema, CreateCompletionResponse, so chunks are checked against it.
  for (const [what, extra] of [['a streamed completion', {}], ['a streamed completion with include_usage', { stream_options: { include_usage: true } }]] as const) {
    const chunks = await sseChunks(t, await post(svc.url, '/v1/completions', { ...body, ...extra, stream: true }));
    t.ok(chunks.length > 1, `${what}: ${chunks.length} chunks`);
    let valid = 0;
    chunks.forEach((c, i) => { if (conformsAsCompletionChunk(t, c, `${what}, chunk ${i}`)) valid++; });
    t.equal(valid, chunks.length, `${what}: every chunk conforms`);
    const ends = chunks.filter((c) => c.choices.length > 0 && c.choices.every((x: any) => x.finish_reason !== null));
    t.equal(ends.length, 1, `${what}: one chunk ends the choice`);
    for (const c of ends) conforms(t, 'CreateCompletionResponse', c, `${what}, its last text chunk (no allowance)`);
    t.equal(ends[0]?.choices[0].finish_reason, 'length');
    if ('stream_options' in extra) {
      const last = chunks.at(-1);
      t.same(last.choices, [], 'the usage chunk has no choices');
      t.match(last.usage, { prompt_tokens: 5, completion_tokens: 20, total_tokens: 25 });
      conforms(t, 'CreateCompletionResponse', last, `${what}, its usage chunk (no allowance)`);
    }
  }
});

t.test('models validate as ListModelsResponse and Model', async (t) => {
  const svc = await startTestService(t);
  const list = await (await fetch(`${svc.url}/v1/models`)).json() as any;
  conforms(t, 'ListModelsResponse', list, 'GET /v1/models');
  t.ok(list.data.some((m: any) => m.id === STORIES_ID), 'the bundled model is listed');
  const res = await fetch(`${svc.url}/v1/models/${STORIES_ID}`);
  t.equal(res.status, 200);
  const model = await res.json() as any;
  conforms(t, 'Model', model, `GET /v1/models/${STORIES_ID}`);
  t.equal(model.id, STORIES_ID);
});

t.test('errors validate as ErrorResponse', async (t) => {
  const svc = await startTestService(t);
  const cases: { what: string; res: () => Promise<Response>; status: number }[] = [
    { what: 'a 400 for a bad field', res: () => post(svc.url, '/v1/chat/completions', storyRequest({ temperature: 'hot' })), status: 400 },
    { what: 'a 400 for a body that is not JSON', res: () => post(svc.url, '/v1/chat/completions', '{not json'), status: 400 },
    { what: 'a 400 from /v1/completions', res: () => post(svc.url, '/v1/completions', { model: 'stories260k' }), status: 400 },
    { what: 'a 404 for an unknown model', res: () => post(svc.url, '/v1/chat/completions', storyRequest({ model: 'no-such-model' })), status: 404 },
    { what: 'a 404 for retrieving an unknown model', res: () => fetch(`${svc.url}/v1/models/nothing-here:1`), status: 404 },
    { what: 'a 404 for an unknown route', res: () => fetch(`${svc.url}/v1/nothing`), status: 404 },
  ];
  for (const c of cases) {
    const res = await c.res();
    t.equal(res.status, c.status, `${c.what}: status ${c.status}`);
    conforms(t, 'ErrorResponse', await res.json(), c.what);
  }
});

t.test('authentication and permission errors validate as ErrorResponse', async (t) => {
  const svc = await startTestService(t, ['--api-keys', 'the-admin-key', '--auth-failure-limit', '4']);
  const chat = (headers: Record<string, string>) => fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(storyRequest({ max_tokens: 2 })),
  });
  const made = await fetch(`${svc.url}/api/v1/keys`, {
    method: 'POST', headers: { authorization: 'Bearer the-admin-key', 'content-type': 'application/json' }, body: JSON.stringify({ preset: 'read' }),
  });
  const reader = ((await made.json()) as { key: string }).key;
  const cases: { what: string; res: () => Promise<Response>; status: number; code: string }[] = [
    { what: 'no credentials', res: () => chat({}), status: 401, code: 'missing_credentials' },
    { what: 'two different credentials', res: () => chat({ authorization: 'Bearer the-admin-key', 'api-key': 'other' }), status: 400, code: 'ambiguous_auth' },
    { what: 'a wrong key', res: () => chat({ authorization: 'Bearer wrong' }), status: 401, code: 'invalid_api_key' },
    { what: 'a read-only key invoking', res: () => chat({ authorization: `Bearer ${reader}` }), status: 403, code: 'insufficient_permissions' },
    { what: 'a wrong key on a deployment\'s data plane', res: () => chat({ 'x-api-key': 'wrong' }).then(() => fetch(`${svc.url}/deployments/nope/v1/models`, { headers: { 'api-key': 'wrong' } })), status: 401, code: 'invalid_api_key' },
    { what: 'too many failures', res: () => chat({ authorization: 'Bearer wrong' }), status: 429, code: 'too_many_auth_failures' },
  ];
  for (const c of cases) {
    const res = await c.res();
    t.equal(res.status, c.status, `${c.what}: status ${c.status}`);
    const body = await res.json() as { error: { code: string } };
    t.equal(body.error.code, c.code, c.what);
    conforms(t, 'ErrorResponse', body, c.what);
  }
});
