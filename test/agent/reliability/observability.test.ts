import t from 'tap';
import { readFileSync } from 'node:fs';
import { logFile } from '../../../agent/log.js';
import { crucible } from '../../helpers/run.js';
import { startTestService, storyRequest } from '../../helpers/service.js';

const SECRET_PROMPT = 'Once upon a time a purple giraffe';

t.test('GET /metrics in Prometheus text format', async (t) => {
  const svc = await startTestService(t);
  const res = await fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(storyRequest({ stream: true })),
  });
  await res.text();
  await fetch(`${svc.url}/v1/nothing`);
  const m = await fetch(`${svc.url}/metrics`);
  t.match(m.headers.get('content-type'), /text\/plain/);
  const text = await m.text();
  t.match(text, /crucible_http_requests_total\{route="\/v1\/chat\/completions",method="POST",status="200"\} 1/);
  t.match(text, /crucible_http_requests_total\{route="\/\*",method="GET",status="404"\} 1|crucible_http_requests_total\{route="\/v1\/nothing",method="GET",status="404"\} 1/);
  t.match(text, /crucible_tokens_generated_total\{model="stories260k-generic-cpu:1"\} 40/);
  t.match(text, /crucible_time_to_first_token_seconds_count\{model="stories260k-generic-cpu:1"\} 1/);
  t.match(text, /crucible_decode_tokens_per_second_count\{model="stories260k-generic-cpu:1"\} 1/);
  t.match(text, /crucible_loaded_models 1/);
  t.match(text, /crucible_requests_in_flight\{model="stories260k-generic-cpu:1"\} 0/);
  t.match(text, /crucible_queue_depth\{model="stories260k-generic-cpu:1"\} 0/);
  t.match(text, /crucible_model_memory_bytes\{model="stories260k-generic-cpu:1"\} \d+/);
  t.match(text, /crucible_process_resident_memory_bytes \d+/);
  t.match(text, /# TYPE crucible_download_bytes_total counter/);
});

t.test('structured logs: JSON lines with request id, model and durations, no prompt text', async (t) => {
  const svc = await startTestService(t);
  await fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'req-abc-123' },
    body: JSON.stringify(storyRequest({ messages: [{ role: 'user', content: SECRET_PROMPT }] })),
  });
  const lines = readFileSync(logFile(svc.home), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.ok(lines.every((l) => typeof l.level === 'number' && typeof l.time === 'string' && typeof l.msg === 'string'), 'every line is a JSON record');
  const http = lines.find((l) => l.msg === 'http request' && l.route === '/v1/chat/completions');
  t.match(http, { requestId: 'req-abc-123', status: 200, durationMs: Number, method: 'POST' });
  const chat = lines.find((l) => l.msg === 'chat completion');
  t.match(chat, { model: 'stories260k-generic-cpu:1', promptTokens: Number, completionTokens: 40, ttftMs: Number, durationMs: Number, requestId: /^chatcmpl-/ });
  t.ok(lines.some((l) => l.msg === 'model loaded' && l.model === 'stories260k-generic-cpu:1'));
  t.notOk(readFileSync(logFile(svc.home), 'utf8').includes('purple giraffe'), 'no prompt text without the debug flag');

  const logs = await crucible(svc.home, 'service', 'logs', '--lines', '3');
  t.equal(logs.status, 0);
  t.equal(logs.stdout.trim().split('\n').length, 3, logs.stdout + logs.stderr);
  t.doesNotThrow(() => logs.stdout.trim().split('\n').forEach((l) => JSON.parse(l)));
});

t.test('prompt text is logged only with --log-prompts at debug level', async (t) => {
  const svc = await startTestService(t, ['--log-prompts', '1', '--log-level', 'debug']);
  await fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(storyRequest({ messages: [{ role: 'user', content: SECRET_PROMPT }] })),
  });
  t.ok(readFileSync(logFile(svc.home), 'utf8').includes('purple giraffe'));
});
