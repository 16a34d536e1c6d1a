import t from 'tap';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TaggedCallParser } from '../../../agent/tool-calls.js';
import { STORIES, startTestService, storyRequest } from '../../helpers/service.js';
import { SCHEMAS } from './schemas.js';

const post = (url: string, body: unknown) => fetch(`${url}/v1/chat/completions`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

t.test('logprobs: under greedy decoding the chosen token is the most likely, in whole and streamed answers', async (t) => {
  const svc = await startTestService(t);
  const res = await (await post(svc.url, storyRequest({ max_tokens: 12, logprobs: true, top_logprobs: 3 }))).json() as any;
  const entries = res.choices[0].logprobs.content as any[];
  t.equal(entries.length, 12, 'one entry per generated token');
  for (const e of entries) {
    t.equal(e.top_logprobs.length, 3);
    t.equal(e.token, e.top_logprobs[0].token, `${JSON.stringify(e.token)} is the top choice`);
    t.equal(e.logprob, e.top_logprobs[0].logprob);
    t.ok(e.logprob <= 0 && e.top_logprobs.every((x: any, i: number, all: any[]) => i === 0 || x.logprob <= all[i - 1].logprob), 'ordered, at most 0');
    t.same(e.bytes, [...Buffer.from(e.token, 'utf8')]);
  }
  t.equal(entries.map((e) => e.token).join(''), res.choices[0].message.content, 'the tokens spell the answer');

  const stream = await post(svc.url, storyRequest({ max_tokens: 12, logprobs: true, stream: true }));
  const streamed: any[] = [];
  for (const line of (await stream.text()).split('\n')) {
    if (!line.startsWith('data: {')) continue;
    streamed.push(...(JSON.parse(line.slice(6)).choices[0]?.logprobs?.content ?? []));
  }
  t.same(streamed.map((e) => [e.token, e.logprob]), entries.map((e) => [e.token, e.logprob]), 'streamed logprobs match, with no alternatives asked');

  // Under a grammar the distribution is the masked one: only allowed tokens have mass.
  const masked = await (await post(svc.url, storyRequest({ max_tokens: 40, logprobs: true, top_logprobs: 5, response_format: { type: 'json_schema', json_schema: { name: 'c', schema: { enum: ['red', 'blue'] } } } }))).json() as any;
  t.match(masked.choices[0].message.content, /^"(red|blue)"$/);
  const first = masked.choices[0].logprobs.content[0];
  t.equal(first.token, '"');
  // stories260k spells '"' two ways (a piece and a byte token): the mask leaves exactly those.
  t.ok(first.top_logprobs.every((x: any) => x.token === '"'), 'every alternative is a quote');
  const mass = first.top_logprobs.reduce((s: number, x: any) => s + Math.exp(x.logprob), 0);
  t.ok(Math.abs(mass - 1) < 1e-9, `the allowed tokens carry all the probability (${mass})`);
});

t.test('legacy completions report logprobs in their own form, streamed and whole', async (t) => {
  const svc = await startTestService(t);
  const body = { model: 'stories260k', prompt: 'Once upon a time', max_tokens: 8, temperature: 0, logprobs: 2 };
  const res = await (await fetch(`${svc.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as any;
  const lp = res.choices[0].logprobs;
  t.equal(lp.tokens.length, 8);
  t.equal(lp.tokens.join(''), res.choices[0].text, 'the tokens spell the text');
  t.same(lp.text_offset, lp.tokens.map((_: string, i: number) => lp.tokens.slice(0, i).join('').length), 'offsets into the text');
  lp.top_logprobs.forEach((alts: Record<string, number>, i: number) => {
    t.equal(Object.keys(alts).length <= 2, true);
    t.equal(Math.max(...Object.values(alts)), lp.token_logprobs[i], 'greedy picks the top alternative');
  });
  const stream = await fetch(`${svc.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  const streamed: number[] = [];
  for (const line of (await stream.text()).split('\n')) {
    if (line.startsWith('data: {')) streamed.push(...(JSON.parse(line.slice(6)).choices[0]?.logprobs?.token_logprobs ?? []));
  }
  t.same(streamed, lp.token_logprobs);
});

t.test('constrained and free sequences decode in one batch without disturbing each other', async (t) => {
  const svc = await startTestService(t);
  const prompts = ['Once upon a time', 'The cat', 'Tom and Sue', 'A little bird'];
  const free = (p: string) => storyRequest({ messages: [{ role: 'user', content: p }], max_tokens: 40 });
  const alone: string[] = [];
  for (const p of prompts) alone.push(((await (await post(svc.url, free(p))).json()) as any).choices[0].message.content);
  const constrained = SCHEMAS.slice(0, 4).map((schema, i) => storyRequest({ temperature: 1, seed: i, max_tokens: 200, response_format: { type: 'json_schema', json_schema: { name: `s${i}`, schema } } }));
  const results = await Promise.all([...prompts.map((p) => post(svc.url, free(p))), ...constrained.map((b) => post(svc.url, b))].map(async (r) => (await r).json() as Promise<any>));
  t.same(results.slice(0, 4).map((r) => r.choices[0].message.content), alone, 'free sequences keep their greedy text');
  for (const r of results.slice(4)) t.doesNotThrow(() => JSON.parse(r.choices[0].message.content), 'constrained ones are JSON');
});

t.test('a model whose template renders tools sees them; Hermes-style blocks become tool calls', async (t) => {
  const svc = await startTestService(t);
  const dir = join(svc.config.modelsDir, 'tales-tools');
  cpSync(STORIES, dir, { recursive: true });
  writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ id: 'tales-tools:1' }));
  const cfg = JSON.parse(readFileSync(join(STORIES, 'tokenizer_config.json'), 'utf8'));
  cfg.chat_template = "{% if tools %}Tools:{% for t in tools %} {{ t.function.name }}{% endfor %}. Call one as <tool_call>{\"name\": ..., \"arguments\": ...}</tool_call>\n{% endif %}"
    + "{% for m in messages %}{{ m['content'] }}\n{% endfor %}";
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 8 } }, required: ['city'] } } }];
  const withTools = await (await post(svc.url, storyRequest({ model: 'tales-tools', tools, max_tokens: 5 }))).json() as any;
  const without = await (await post(svc.url, storyRequest({ model: 'tales-tools', max_tokens: 5 }))).json() as any;
  t.ok(withTools.usage.prompt_tokens > without.usage.prompt_tokens + 10, `the template showed the tools (${withTools.usage.prompt_tokens} vs ${without.usage.prompt_tokens} prompt tokens)`);
  t.equal(withTools.choices[0].finish_reason, 'length', 'under auto the model chose to answer in text');
  const forced = await (await post(svc.url, storyRequest({ model: 'tales-tools', tools, tool_choice: 'required', temperature: 1, seed: 2, max_tokens: 60 }))).json() as any;
  t.match(forced.choices[0], { finish_reason: 'tool_calls', message: { content: null, tool_calls: [{ type: 'function', function: { name: 'get_weather' } }] } });

  // The parser the auto path streams through, on text such a model writes.
  const parser = new TaggedCallParser();
  const events = ['Let me check. <tool', '_call>{"name": "get_weather", "argu', 'ments": {"city": "Oslo"}}</tool_call> Done.'].flatMap((piece) => parser.push(piece));
  events.push(...parser.finish());
  t.match(events, [
    { type: 'content', text: 'Let me check. ' },
    { type: 'call', index: 0, name: 'get_weather' },
    { type: 'arguments', index: 0, text: '{"city":"Oslo"}' },
    { type: 'content', text: ' Done.' },
  ]);
});
