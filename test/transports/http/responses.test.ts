import t from 'tap';
import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { HttpClient } from '../../../clients/typescript/http-client.js';
import { PipeClient } from '../../../clients/typescript/pipe-client.js';
import type { ResponseStreamEvent } from '../../../protocol/responses.js';
import { startTestService, storyRequest } from '../../helpers/service.js';

/** What a call rejects with (null if it resolves). */
const failure = (p: PromiseLike<unknown>): Promise<unknown> => Promise.resolve(p).then(() => null, (e: unknown) => e);

const weather = {
  type: 'function' as const, name: 'get_weather', description: 'Weather for a city', strict: true,
  parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'], additionalProperties: false },
};

t.test('openai responses.create: text, streamed events in order, retrieve, delete', async (t) => {
  const svc = await startTestService(t);
  const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const chat = await client.chat.completions.create(storyRequest() as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
  const expected = chat.choices[0].message.content!;

  const r = await client.responses.create({ model: 'stories260k', input: 'Once upon a time', temperature: 0, max_output_tokens: 40 });
  t.match(r.id, /^resp_/);
  t.equal(r.object, 'response');
  t.equal(r.output_text, expected, 'the same text the chat operation gives for the same conversation');
  t.equal(r.status, chat.choices[0].finish_reason === 'length' ? 'incomplete' : 'completed');
  if (r.status === 'incomplete') t.same(r.incomplete_details, { reason: 'max_output_tokens' });
  t.match(r.output[0], { type: 'message', role: 'assistant', id: /^msg_/, content: [{ type: 'output_text', text: expected }] });
  t.equal(r.usage!.input_tokens, chat.usage!.prompt_tokens);
  t.equal(r.usage!.output_tokens, chat.usage!.completion_tokens);
  t.equal(r.usage!.total_tokens, r.usage!.input_tokens + r.usage!.output_tokens);
  t.type(r.usage!.input_tokens_details.cached_tokens, 'number');
  t.equal((r as unknown as { store: boolean }).store, true);
  t.equal(r.truncation, 'disabled');

  const stream = await client.responses.create({ model: 'stories260k', input: 'Once upon a time', temperature: 0, max_output_tokens: 40, stream: true, metadata: { run: 'a' } });
  const events: OpenAI.Responses.ResponseStreamEvent[] = [];
  for await (const e of stream) events.push(e);
  t.same(events.map((e) => e.sequence_number), events.map((_, i) => i), 'sequence_number counts from 0 with no gap');
  // Runs of the same type collapsed: every type appears in one run, in this order.
  const types = events.map((e) => e.type).filter((x, i, all) => i === 0 || all[i - 1] !== x);
  t.same(types, ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
    'response.output_text.delta', 'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
    r.status === 'incomplete' ? 'response.incomplete' : 'response.completed'], 'every event type, in order');
  const deltas = events.filter((e) => e.type === 'response.output_text.delta').map((e) => (e as OpenAI.Responses.ResponseTextDeltaEvent).delta);
  t.ok(deltas.length > 5, `${deltas.length} deltas`);
  t.equal(deltas.join(''), expected);
  const final = (events.at(-1) as OpenAI.Responses.ResponseCompletedEvent).response;
  t.same(final.metadata, { run: 'a' });
  t.equal((events.find((e) => e.type === 'response.output_text.done') as OpenAI.Responses.ResponseTextDoneEvent).text, expected);

  const got = await client.responses.retrieve(final.id);
  t.same(got.output, final.output, 'the stored response is the one the stream ended with');
  t.equal(got.status, final.status);
  await client.responses.delete(final.id);
  t.match(await failure(client.responses.retrieve(final.id)), { status: 404 }, 'then 404');
  t.match(await failure(client.responses.delete(final.id)), { status: 404 }, 'and a second delete is 404 too');
  const again = await fetch(`${svc.url}/v1/responses/${got.id}`, { method: 'DELETE' });
  t.equal(again.status, 404);
  t.match(await again.json(), { error: { code: 'not_found', type: 'invalid_request_error' } }, 'in the OpenAI envelope');
  const other = await client.responses.create({ model: 'stories260k', input: 'Once upon a time', max_output_tokens: 2 });
  t.same(await (await fetch(`${svc.url}/v1/responses/${other.id}`, { method: 'DELETE' })).json(), { id: other.id, object: 'response.deleted', deleted: true });

  const unstored = await client.responses.create({ model: 'stories260k', input: 'Once upon a time', temperature: 0, max_output_tokens: 5, store: false });
  t.match(await failure(client.responses.retrieve(unstored.id)), { status: 404 }, 'store: false keeps nothing');
});

t.test('openai: a forced function call, its output sent back, parse with zod, chained turns and input items', async (t) => {
  const svc = await startTestService(t);
  const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused', maxRetries: 0 });

  const call = await client.responses.create({
    model: 'stories260k', input: 'What is the weather in Paris?', tools: [weather], tool_choice: 'required', temperature: 1, seed: 3, max_output_tokens: 60,
  } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
  t.equal(call.output.length, 1);
  const fc = call.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
  t.match(fc, { type: 'function_call', name: 'get_weather', call_id: /^call_/, status: 'completed' });
  const args = JSON.parse(fc.arguments);
  t.ok(typeof args.city === 'string' && args.city.length <= 12, `arguments ${fc.arguments}`);
  t.same(call.tools.map((x) => (x as OpenAI.Responses.FunctionTool).name), ['get_weather']);

  const streamed = await client.responses.create({
    model: 'stories260k', input: 'What is the weather in Paris?', tools: [weather], tool_choice: { type: 'function', name: 'get_weather' }, temperature: 1, seed: 3, max_output_tokens: 60, stream: true,
  } as OpenAI.Responses.ResponseCreateParamsStreaming);
  const events: OpenAI.Responses.ResponseStreamEvent[] = [];
  for await (const e of streamed) events.push(e);
  const argDeltas = events.filter((e) => e.type === 'response.function_call_arguments.delta') as OpenAI.Responses.ResponseFunctionCallArgumentsDeltaEvent[];
  const argsDone = events.find((e) => e.type === 'response.function_call_arguments.done') as OpenAI.Responses.ResponseFunctionCallArgumentsDoneEvent;
  t.ok(argDeltas.length >= 1, 'arguments arrive in pieces');
  t.equal(argDeltas.map((d) => d.delta).join(''), argsDone.arguments, 'the pieces make the final arguments');
  t.same(events.map((e) => e.type).filter((x) => !x.endsWith('.delta')), ['response.created', 'response.in_progress', 'response.output_item.added',
    'response.function_call_arguments.done', 'response.output_item.done', 'response.completed']);

  // The tool's answer goes back as the next turn, continuing from the stored call.
  const answered = await client.responses.create({
    model: 'stories260k', previous_response_id: call.id, temperature: 0, max_output_tokens: 10,
    input: [{ type: 'function_call_output', call_id: fc.call_id, output: '{"sky":"sunny"}' }],
  });
  t.equal(answered.previous_response_id, call.id);
  t.ok(answered.output_text.length > 0, 'the model answers after the tool output');
  t.ok(answered.usage!.input_tokens > call.usage!.input_tokens, 'the stored call is part of the context');

  const parsed = await client.responses.parse({
    model: 'stories260k', input: 'Make a person', temperature: 1, seed: 2, max_output_tokens: 120,
    text: { format: zodTextFormat(z.object({ name: z.string().max(10), age: z.number().int().min(0).max(99) }), 'person') },
  });
  t.ok(parsed.output_parsed && typeof parsed.output_parsed.name === 'string' && Number.isInteger(parsed.output_parsed.age), JSON.stringify(parsed.output_parsed));

  // Three turns: each continues the stored conversation.
  // An opening longer than the prefix cache's 8-token minimum, so later turns reuse it.
  const one = await client.responses.create({ model: 'stories260k', input: 'Once upon a time, in a small town, there lived', temperature: 0, max_output_tokens: 8, instructions: 'Tell a story.' });
  const two = await client.responses.create({ model: 'stories260k', previous_response_id: one.id, input: 'And then?', temperature: 0, max_output_tokens: 8 });
  const three = await client.responses.create({ model: 'stories260k', previous_response_id: two.id, input: 'The end.', temperature: 0, max_output_tokens: 8 });
  t.ok(two.usage!.input_tokens > one.usage!.input_tokens + one.usage!.output_tokens - 2, 'turn two reads turn one');
  t.ok(three.usage!.input_tokens > two.usage!.input_tokens + two.usage!.output_tokens, 'turn three reads both');
  t.ok(two.usage!.input_tokens_details.cached_tokens > 0 && three.usage!.input_tokens_details.cached_tokens > 0,
    `cached_tokens on turns two and three (${two.usage!.input_tokens_details.cached_tokens}, ${three.usage!.input_tokens_details.cached_tokens})`);
  t.equal(two.instructions, null, 'instructions are not carried over, as OpenAI does');
  t.match(await failure(client.responses.create({ model: 'stories260k', previous_response_id: 'resp_nope', input: 'x' })),
    { status: 404, error: { param: 'previous_response_id' } });

  const many = await client.responses.create({
    model: 'stories260k', temperature: 0, max_output_tokens: 4,
    input: ['a', 'b', 'c', 'd', 'e'].map((text, i) => ({ type: 'message' as const, role: i % 2 ? 'assistant' as const : 'user' as const, content: text })),
  });
  const pages: string[][] = [];
  let page = await client.responses.inputItems.list(many.id, { limit: 2, order: 'asc' });
  for (;;) {
    pages.push(page.data.map((i) => ((i as OpenAI.Responses.ResponseInputMessageItem).content[0] as { text: string }).text));
    if (!page.hasNextPage()) break;
    page = await page.getNextPage();
  }
  t.same(pages, [['a', 'b'], ['c', 'd'], ['e']], 'cursor pages of two, oldest first');
  const desc = await client.responses.inputItems.list(many.id, { limit: 100 });
  t.same(desc.data.map((i) => ((i as OpenAI.Responses.ResponseInputMessageItem).content[0] as { text: string }).text), ['e', 'd', 'c', 'b', 'a'], 'newest first by default');
});

t.test('bad requests get the OpenAI envelope naming the field, and the agent stays up', async (t) => {
  const svc = await startTestService(t);
  const post = async (body: unknown) => {
    const res = await fetch(`${svc.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() as { error: { param: string; code: string; message: string } } };
  };
  const base = { model: 'stories260k', input: 'Once upon a time', max_output_tokens: 4 };
  const cases: [unknown, number, string, string?][] = [
    [{ ...base, tools: [{ type: 'web_search_preview' }] }, 400, 'tools[0].type', 'web_search_preview'],
    [{ ...base, reasoning: { effort: 'high' } }, 400, 'reasoning'],
    [{ ...base, frobnicate: 1 }, 400, 'frobnicate'],
    [{ ...base, include: ['file_search_call.results'] }, 400, 'include'],
    [{ ...base, input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'x' }] }] }, 400, 'input[0].content[0].type'],
    [{ ...base, input: [{ type: 'item_reference', id: 'x' }] }, 400, 'input[0].type'],
    [{ ...base, input: 5 }, 400, 'input'],
    [{ ...base, max_output_tokens: 0 }, 400, 'max_output_tokens'],
    [{ ...base, temperature: 3 }, 400, 'temperature'],
    [{ ...base, text: { format: { type: 'yaml' } } }, 400, 'text.format.type'],
    [{ ...base, tools: [{ type: 'function', name: 'bad name' }] }, 400, 'tools[0].name'],
    [{ ...base, tool_choice: 'required' }, 400, 'tool_choice'],
    [{ ...base, truncation: 'sometimes' }, 400, 'truncation'],
    [{ ...base, background: true, store: false }, 400, 'background'],
    [{ ...base, model: 'no-such-model' }, 404, 'model'],
    [{ ...base, input: 'word '.repeat(2000) }, 400, 'input', 'maximum context length'],
  ];
  for (const [body, status, param, text] of cases) {
    const r = await post(body);
    t.equal(r.status, status, `${param}: status`);
    t.equal(r.body.error.param, param, `${param}: param`);
    if (text) t.match(r.body.error.message, text);
  }
  // truncation auto drops the oldest items until the context fits, and says how many.
  const long = Array.from({ length: 12 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i} ${'word '.repeat(120)}` }));
  const cut = await post({ ...base, input: long, truncation: 'auto' });
  t.equal(cut.status, 200, JSON.stringify(cut.body).slice(0, 200));
  const dropped = (cut.body as unknown as { truncated_items: number }).truncated_items;
  t.ok(dropped > 0 && dropped < long.length, `dropped ${dropped} of ${long.length}`);
  const refused = await post({ ...base, input: long });
  t.equal(refused.status, 400, 'the same input without truncation is refused');
  t.equal(refused.body.error.code, 'context_length_exceeded');
  t.match(refused.body.error.message, /maximum context length is \d+ tokens/);

  for (const [path, status] of [['/v1/responses/resp_missing', 404], ['/v1/responses/bad$id', 400], ['/v1/responses/resp_missing/input_items', 404],
    ['/v1/responses/resp_missing/input_items?limit=1000', 400], ['/v1/responses/resp_missing?starting_after=3', 400]] as const) {
    t.equal((await fetch(`${svc.url}${path}`)).status, status, path);
  }
  t.equal((await fetch(`${svc.url}/health`)).status, 200, 'still serving');
});

t.test('the pipe serves the same operations, and both SDK clients call them', async (t) => {
  const svc = await startTestService(t);
  const pipe = await PipeClient.connect(svc.pipeName);
  t.teardown(() => pipe.close());
  const http = new HttpClient(svc.url);
  for (const [name, client] of [['pipe', pipe], ['http', http]] as const) {
    const r = await client.createResponse({ model: 'stories260k', input: 'Once upon a time', temperature: 0, max_output_tokens: 6 });
    t.match(r.id, /^resp_/, `${name}: created`);
    t.equal((await client.getResponse(r.id)).id, r.id, `${name}: retrieved`);
    const events: ResponseStreamEvent[] = [];
    for await (const e of client.createResponseStream({ model: 'stories260k', input: 'Once upon a time', temperature: 0, max_output_tokens: 6 })) events.push(e);
    t.equal(events[0].type, 'response.created', `${name}: streamed`);
    t.match(events.at(-1)!.type, /^response\.(completed|incomplete)$/);
    t.same(events.map((e) => e.sequence_number), events.map((_, i) => i));
    const items = await client.listInputItems(r.id, { limit: 5 });
    t.equal(items.data.length, 1);
    t.same(await client.deleteResponse(r.id), { id: r.id, object: 'response.deleted', deleted: true }, `${name}: deleted`);
    t.match(await failure(client.getResponse(r.id)), { code: 'not_found' });
    t.match(await failure(client.createResponse({ model: 'stories260k', input: 'x', tools: [{ type: 'file_search' }] })), { code: 'unsupported_parameter', param: 'tools[0].type' });
  }
});
