import t from 'tap';
import { startTestService, storiesOf, storyRequest } from '../../helpers/service.js';

t.test('model management, status and token counting endpoints', async (t) => {
  const svc = await startTestService(t);
  const get = async (path: string) => {
    const res = await fetch(svc.url + path);
    return { status: res.status, body: await res.json() as any };
  };
  t.same(await get('/health'), { status: 200, body: { status: 'ok' } });
  t.same(await get('/ready'), { status: 200, body: { status: 'ready' } });
  const status = await get('/openai/status');
  t.same(status.body.Endpoints, [svc.url]);
  t.equal(status.body.ModelDirPath, svc.config.modelsDir);
  t.equal(status.body.PipeName, svc.pipeName);
  t.same((await get('/openai/models')).body, ['pp-ocrv4-generic-cpu:1', 'stories260k-generic-cpu:1', 'textline-orientation-generic-cpu:1']);
  t.same((await get('/openai/loadedmodels')).body, []);
  t.same(await get('/openai/load/stories260k?ttl=30'), { status: 200, body: { model: 'stories260k-generic-cpu:1' } });
  t.same((await get('/openai/loadedmodels')).body, ['stories260k-generic-cpu:1']);
  const ps = (await get('/openai/ps')).body;
  t.match(storiesOf<any>(ps), { state: 'loaded', executionProvider: 'cpu', contextLength: 512, inFlight: 0 });
  t.ok(storiesOf<any>(ps).expiresInSeconds <= 30 && storiesOf<any>(ps).expiresInSeconds >= 28, 'the ttl of the load applies');
  t.same(await get('/openai/unload/stories260k?force=true'), { status: 200, body: { model: 'stories260k-generic-cpu:1' } });
  t.same((await get('/openai/loadedmodels')).body, []);

  const count = await fetch(`${svc.url}/v1/chat/completions/tokenizer/encode/count`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'stories260k', messages: [{ role: 'system', content: 'ignored by this template' }, { role: 'user', content: 'Once upon a time' }] }),
  });
  t.same(await count.json(), { model: 'stories260k-generic-cpu:1', tokenCount: 5 });

  // Seed 000: a bare integer, -1 where no GPU provider can run; setting one says why it cannot.
  const gpu = await get('/openai/getgpudevice');
  t.equal(gpu.status, 200);
  t.type(gpu.body, 'number');
  t.ok(Number.isInteger(gpu.body) && gpu.body >= -1, `a device index (${gpu.body})`);
  // Both casings of every status field: the seeds' and the SDKs'.
  t.same([status.body.endpoints, status.body.modelDirPath, status.body.pipeName, status.body.version],
    [status.body.Endpoints, status.body.ModelDirPath, status.body.PipeName, status.body.Version]);
  const bad = await get('/openai/setgpudevice/7');
  t.equal(bad.status, 400);
  t.equal(bad.body.error.code, 'no_gpu_device');
});

interface Case {
  name: string;
  method?: string;
  path?: string;
  body?: string | Uint8Array;
  contentType?: string | null;
  status: number;
  code: string;
  param?: string;
}

const json = (v: unknown) => JSON.stringify(v);
const chat = (extra: Record<string, unknown>) => json(storyRequest(extra));

const CASES: Case[] = [
  { name: 'malformed JSON', body: '{"model": "stories260k", ', status: 400, code: 'invalid_json' },
  { name: 'empty body', body: '', status: 400, code: 'invalid_json' },
  { name: 'JSON that is not an object', body: '[1,2]', status: 400, code: 'invalid_request', param: 'body' },
  { name: 'wrong content type', body: chat({}), contentType: 'text/plain', status: 415, code: 'unsupported_media_type' },
  { name: 'missing model', body: json({ messages: [{ role: 'user', content: 'x' }] }), status: 400, code: 'invalid_request', param: 'model' },
  { name: 'model not a string', body: chat({ model: 42 }), status: 400, code: 'invalid_request', param: 'model' },
  { name: 'unknown model', body: chat({ model: 'no-such-model' }), status: 404, code: 'model_not_found', param: 'model' },
  { name: 'path traversal in the model name', body: chat({ model: '../../etc/passwd' }), status: 400, code: 'invalid_request', param: 'model' },
  { name: 'missing messages', body: json({ model: 'stories260k' }), status: 400, code: 'invalid_request', param: 'messages' },
  { name: 'empty messages', body: chat({ messages: [] }), status: 400, code: 'invalid_request', param: 'messages' },
  { name: 'unknown role', body: chat({ messages: [{ role: 'wizard', content: 'x' }] }), status: 400, code: 'invalid_request', param: 'messages[0].role' },
  { name: 'content of the wrong type', body: chat({ messages: [{ role: 'user', content: 5 }] }), status: 400, code: 'invalid_request', param: 'messages[0].content' },
  { name: 'temperature above 2', body: chat({ temperature: 2.5 }), status: 400, code: 'invalid_request', param: 'temperature' },
  { name: 'negative temperature', body: chat({ temperature: -1 }), status: 400, code: 'invalid_request', param: 'temperature' },
  { name: 'top_p above 1', body: chat({ top_p: 1.5 }), status: 400, code: 'invalid_request', param: 'top_p' },
  { name: 'zero max_tokens', body: chat({ max_tokens: 0 }), status: 400, code: 'invalid_request', param: 'max_tokens' },
  { name: 'negative max_tokens', body: chat({ max_tokens: -5 }), status: 400, code: 'invalid_request', param: 'max_tokens' },
  { name: 'fractional max_tokens', body: chat({ max_tokens: 2.5 }), status: 400, code: 'invalid_request', param: 'max_tokens' },
  { name: 'huge max_tokens', body: chat({ max_tokens: 1e300 }), status: 400, code: 'invalid_request', param: 'max_tokens' },
  { name: 'max_tokens beyond the context', body: chat({ max_tokens: 600 }), status: 400, code: 'context_length_exceeded', param: 'max_tokens' },
  { name: 'prompt beyond the context', body: chat({ messages: [{ role: 'user', content: 'the '.repeat(700) }], max_tokens: undefined }), status: 400, code: 'context_length_exceeded', param: 'messages' },
  { name: 'stream not a boolean', body: chat({ stream: 'yes' }), status: 400, code: 'invalid_request', param: 'stream' },
  { name: 'stop of the wrong type', body: chat({ stop: 5 }), status: 400, code: 'invalid_request', param: 'stop' },
  { name: 'too many stop strings', body: chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), status: 400, code: 'invalid_request', param: 'stop' },
  { name: 'presence_penalty out of range', body: chat({ presence_penalty: 3 }), status: 400, code: 'invalid_request', param: 'presence_penalty' },
  { name: 'n of zero', body: chat({ n: 0 }), status: 400, code: 'invalid_request', param: 'n' },
  { name: 'n above 128', body: chat({ n: 129 }), status: 400, code: 'invalid_request', param: 'n' },
  { name: 'a user message without content', body: chat({ messages: [{ role: 'user' }] }), status: 400, code: 'invalid_request', param: 'messages[0].content' },
  { name: 'a user message with null content', body: chat({ messages: [{ role: 'user', content: null }] }), status: 400, code: 'invalid_request', param: 'messages[0].content' },
  { name: 'a user message carrying tool calls', body: chat({ messages: [{ role: 'user', content: 'x', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } }] }] }), status: 400, code: 'invalid_request', param: 'messages[0].tool_calls' },
  { name: 'a tool call without arguments', body: chat({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: null, tool_calls: [{ id: 'a', type: 'function', function: { name: 'f' } }] }] }), status: 400, code: 'invalid_request', param: 'messages[1].tool_calls[0].function' },
  { name: 'a tool message without tool_call_id', body: chat({ messages: [{ role: 'user', content: 'x' }, { role: 'tool', content: '{}' }] }), status: 400, code: 'invalid_request', param: 'messages[1].tool_call_id' },
  { name: 'top_logprobs without logprobs', body: chat({ top_logprobs: 2 }), status: 400, code: 'invalid_request', param: 'top_logprobs' },
  { name: 'top_logprobs above 20', body: chat({ logprobs: true, top_logprobs: 21 }), status: 400, code: 'invalid_request', param: 'top_logprobs' },
  { name: 'tool_choice auto without tools', body: chat({ tool_choice: 'auto' }), status: 400, code: 'invalid_request', param: 'tool_choice' },
  { name: 'tool_choice naming a missing function', body: chat({ tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: 'function', function: { name: 'g' } } }), status: 400, code: 'invalid_request', param: 'tool_choice' },
  { name: 'a hosted tool', body: chat({ tools: [{ type: 'web_search' }] }), status: 400, code: 'unsupported_parameter', param: 'tools[0].type' },
  { name: 'a function name with spaces', body: chat({ tools: [{ type: 'function', function: { name: 'get weather' } }] }), status: 400, code: 'invalid_request', param: 'tools[0].function.name' },
  { name: 'function parameters with an unenforceable keyword', body: chat({ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'integer', multipleOf: 2 } } } } }] }), status: 400, code: 'invalid_request', param: 'tools[0].function.parameters.properties.a.multipleOf' },
  { name: 'a response_format of an unknown type', body: chat({ response_format: { type: 'yaml' } }), status: 400, code: 'invalid_request', param: 'response_format.type' },
  { name: 'a json_schema without schema', body: chat({ response_format: { type: 'json_schema', json_schema: { name: 'x' } } }), status: 400, code: 'invalid_request', param: 'response_format.json_schema.schema' },
  { name: 'a schema with uniqueItems', body: chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'array', uniqueItems: true } } } }), status: 400, code: 'invalid_request', param: 'response_format.json_schema.schema.uniqueItems' },
  { name: 'a schema with bounds on a number', body: chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'number', maximum: 1 } } } }), status: 400, code: 'invalid_request', param: 'response_format.json_schema.schema.maximum' },
  { name: 'a schema with a remote $ref', body: chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { $ref: 'http://example.com/s.json' } } } }), status: 400, code: 'invalid_request', param: 'response_format.json_schema.schema.$ref' },
  ...([
    ['logit_bias', { 42: 5 }],
    ['functions', [{ name: 'f' }]], ['function_call', 'auto'], ['audio', { voice: 'alloy', format: 'mp3' }], ['modalities', ['text', 'audio']],
  ] as [string, unknown][]).map(([field, value]): Case => ({
    name: `chat ${field}: ${JSON.stringify(value)}`, body: chat({ [field]: value }), status: 400, code: 'unsupported_parameter', param: field,
  })),
  { name: 'completions without a prompt', path: '/v1/completions', body: json({ model: 'stories260k' }), status: 400, code: 'invalid_request', param: 'prompt' },
  { name: 'completions with an empty prompt list', path: '/v1/completions', body: json({ model: 'stories260k', prompt: [] }), status: 400, code: 'invalid_request', param: 'prompt' },
  { name: 'completions with a prompt of the wrong type', path: '/v1/completions', body: json({ model: 'stories260k', prompt: ['a', 5, 'b'] }), status: 400, code: 'invalid_request', param: 'prompt[1]' },
  { name: 'completions with token-id prompts', path: '/v1/completions', body: json({ model: 'stories260k', prompt: [1, 2, 3] }), status: 400, code: 'unsupported_parameter', param: 'prompt' },
  { name: 'completions with a suffix', path: '/v1/completions', body: json({ model: 'stories260k', prompt: 'x', suffix: 'y' }), status: 400, code: 'unsupported_parameter', param: 'suffix' },
  { name: 'completions with logprobs and echo', path: '/v1/completions', body: json({ model: 'stories260k', prompt: 'x', logprobs: 2, echo: true }), status: 400, code: 'unsupported_parameter', param: 'logprobs' },
  { name: 'completions with logprobs above 5', path: '/v1/completions', body: json({ model: 'stories260k', prompt: 'x', logprobs: 6 }), status: 400, code: 'invalid_request', param: 'logprobs' },
  { name: 'completions with best_of above n', path: '/v1/completions', body: json({ model: 'stories260k', prompt: 'x', best_of: 3 }), status: 400, code: 'unsupported_parameter', param: 'best_of' },
  { name: 'completions with too many choices', path: '/v1/completions', body: json({ model: 'stories260k', prompt: ['a', 'b', 'c'], n: 50 }), status: 400, code: 'invalid_request', param: 'prompt' },
  { name: 'completions with echo not a boolean', path: '/v1/completions', body: json({ model: 'stories260k', prompt: 'x', echo: 'yes' }), status: 400, code: 'invalid_request', param: 'echo' },
  { name: 'completions for an unknown model', path: '/v1/completions', body: json({ model: 'nope', prompt: 'x' }), status: 404, code: 'model_not_found', param: 'model' },
  { name: 'completions past the context', path: '/v1/completions', body: json({ model: 'stories260k', prompt: 'x', max_tokens: 600 }), status: 400, code: 'context_length_exceeded', param: 'max_tokens' },
  { name: 'retrieve of an unknown model', method: 'GET', path: '/v1/models/nothing-here:1', status: 404, code: 'model_not_found', param: 'model' },
  { name: 'retrieve of a name with a backslash', method: 'GET', path: '/v1/models/a%5Cb', status: 400, code: 'invalid_request', param: 'model' },
  { name: 'seed not an integer', body: chat({ seed: 'abc' }), status: 400, code: 'invalid_request', param: 'seed' },
  { name: 'invalid UTF-8 in the body', body: Buffer.concat([Buffer.from('{"model":"stories260k","messages":[{"role":"user","content":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}]}')]), status: 400, code: 'invalid_json' },
  { name: 'a message with no role', body: chat({ messages: [{}] }), status: 400, code: 'invalid_request', param: 'messages[0].role' },
  { name: 'a message that is not an object', body: chat({ messages: ['hello'] }), status: 400, code: 'invalid_request', param: 'messages[0]' },
  { name: 'an image content part', body: chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }), status: 400, code: 'invalid_request', param: 'messages[0].content[0]' },
  { name: 'an enormous message beyond the body limit', body: chat({ messages: [{ role: 'user', content: 'a'.repeat(5 * 1024 * 1024) }] }), status: 413, code: 'payload_too_large' },
  { name: 'an empty model name', body: chat({ model: '' }), status: 400, code: 'invalid_request', param: 'model' },
  { name: 'a null model', body: chat({ model: null }), status: 400, code: 'invalid_request', param: 'model' },
  { name: 'temperature as a string', body: chat({ temperature: 'warm' }), status: 400, code: 'invalid_request', param: 'temperature' },
  { name: 'a huge temperature', body: chat({ temperature: 1e308 }), status: 400, code: 'invalid_request', param: 'temperature' },
  { name: 'negative top_p', body: chat({ top_p: -0.1 }), status: 400, code: 'invalid_request', param: 'top_p' },
  { name: 'negative top_k', body: chat({ top_k: -1 }), status: 400, code: 'invalid_request', param: 'top_k' },
  { name: 'frequency_penalty below -2', body: chat({ frequency_penalty: -3 }), status: 400, code: 'invalid_request', param: 'frequency_penalty' },
  { name: 'max_tokens as a string', body: chat({ max_tokens: '10' }), status: 400, code: 'invalid_request', param: 'max_tokens' },
  { name: 'zero max_completion_tokens', body: chat({ max_completion_tokens: 0 }), status: 400, code: 'invalid_request', param: 'max_completion_tokens' },
  { name: 'a seed beyond 2^53', body: chat({ seed: 1e30 }), status: 400, code: 'invalid_request', param: 'seed' },
  { name: 'stream_options that is not an object', body: chat({ stream: true, stream_options: 'yes' }), status: 400, code: 'invalid_request', param: 'stream_options' },
  { name: 'an empty stop string', body: chat({ stop: [''] }), status: 400, code: 'invalid_request', param: 'stop' },
  { name: 'download of a traversal path', path: '/openai/download', body: json({ model: '../../etc/passwd' }), status: 400, code: 'invalid_request', param: 'model' },
  { name: 'register with a bad BaseUri', path: '/openai/register', body: json({ TypeName: 'openai', ModelName: 'x', BaseUri: 'file:///etc' }), status: 400, code: 'invalid_request', param: 'BaseUri' },
  { name: 'unknown route', method: 'GET', path: '/v1/nothing', status: 404, code: 'not_found' },
  { name: 'load of an unknown model', method: 'GET', path: '/openai/load/nothing-here', status: 404, code: 'model_not_found' },
  { name: 'load with a ttl that is not a number', method: 'GET', path: '/openai/load/stories260k?ttl=soon', status: 400, code: 'invalid_request', param: 'ttl' },
  { name: 'load on an execution provider this machine lacks', method: 'GET', path: '/openai/load/stories260k?ep=cuda', status: 400, code: 'unsupported_execution_provider', param: 'ep' },
  { name: 'unload with a bad force flag', method: 'GET', path: '/openai/unload/stories260k?force=maybe', status: 400, code: 'invalid_request', param: 'force' },
  { name: 'count for an unknown model', path: '/v1/chat/completions/tokenizer/encode/count', body: json({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }), status: 404, code: 'model_not_found' },
  { name: 'count without messages', path: '/v1/chat/completions/tokenizer/encode/count', body: json({ model: 'stories260k' }), status: 400, code: 'invalid_request', param: 'messages' },
];

t.test('every malformed request gets its envelope, and the agent keeps serving', async (t) => {
  const svc = await startTestService(t);
  for (const c of CASES) {
    const method = c.method ?? 'POST';
    const headers: Record<string, string> = {};
    if (method === 'POST' && c.contentType !== null) headers['content-type'] = c.contentType ?? 'application/json';
    const res = await fetch(svc.url + (c.path ?? '/v1/chat/completions'), { method, headers, body: method === 'POST' ? c.body : undefined });
    t.not(res.status, 500, `${c.name}: never a 500`);
    const body = await res.json() as { error: { message: string; type: string; code: string; param: string | null } };
    t.equal(res.status, c.status, `${c.name}: status`);
    t.equal(body.error?.code, c.code, `${c.name}: code`);
    t.ok(typeof body.error?.message === 'string' && body.error.message.length > 0, `${c.name}: message`);
    if (c.param) t.equal(body.error.param, c.param, `${c.name}: names the field`);
  }
  const ok = await fetch(`${svc.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chat({}) });
  t.equal(ok.status, 200, 'still serving after the malformed requests');
  t.ok(CASES.length >= 40, `${CASES.length} malformed HTTP requests (the pipe has its own table)`);
});
