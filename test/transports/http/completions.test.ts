import t from 'tap';
import OpenAI from 'openai';
import { HttpClient } from '../../../clients/typescript/http-client.js';
import { GREEDY, STORIES_ID, startTestService, storyRequest } from '../../helpers/service.js';

const PROMPT = 'Once upon a time';
const prefix = GREEDY.slice(0, 75); // ", there was a little girl named Lily. She loved to play outside in the park."

t.test('models.retrieve through the official openai client', async (t) => {
  const svc = await startTestService(t);
  const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused' });
  const model = await client.models.retrieve(STORIES_ID);
  t.same(model, { id: STORIES_ID, object: 'model', created: 0, owned_by: 'crucible' });
  t.equal((await client.models.retrieve('stories260k')).id, STORIES_ID, 'an alias resolves to the model id');
  const missing = await client.models.retrieve('no-such-model:1').catch((e) => e);
  t.ok(missing instanceof OpenAI.NotFoundError, 'an unknown id is a 404');
  t.equal(missing.code, 'model_not_found');
  t.equal(missing.param, 'model');
});

t.test('legacy text completions through the official openai client', async (t) => {
  const svc = await startTestService(t);
  const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused' });

  const full = await client.completions.create({ model: 'stories260k', prompt: PROMPT, temperature: 0, max_tokens: 40 });
  t.equal(full.object, 'text_completion');
  t.equal(full.model, STORIES_ID);
  t.match(full.id, /^cmpl-/);
  t.equal(full.choices.length, 1);
  const text = full.choices[0].text;
  t.ok(text.startsWith(prefix), `the prompt is continued as it is: ${JSON.stringify(text)}`);
  t.equal(full.choices[0].index, 0);
  t.equal(full.choices[0].finish_reason, 'length');
  t.equal(full.choices[0].logprobs, null);
  t.same(full.usage, { prompt_tokens: 5, completion_tokens: 40, total_tokens: 45 });

  const stream = await client.completions.create({
    model: 'stories260k', prompt: PROMPT, temperature: 0, max_tokens: 40, stream: true, stream_options: { include_usage: true },
  });
  let streamed = '';
  let chunks = 0;
  let finish: string | null = null;
  let usage;
  for await (const chunk of stream) {
    t.equal(chunk.object, 'text_completion');
    chunks++;
    for (const c of chunk.choices) {
      t.equal(c.index, 0);
      streamed += c.text;
      finish = c.finish_reason ?? finish;
    }
    usage = chunk.usage ?? usage;
  }
  t.equal(streamed, text, 'streamed text equals the non-streamed text');
  t.ok(chunks >= 3, `text chunks, a finish chunk and a usage chunk (${chunks} chunks)`);
  t.equal(finish, 'length');
  t.same(usage, { prompt_tokens: 5, completion_tokens: 40, total_tokens: 45 });

  const echoed = await client.completions.create({ model: 'stories260k', prompt: PROMPT, temperature: 0, max_tokens: 40, echo: true });
  t.equal(echoed.choices[0].text, PROMPT + text, 'echo puts the prompt before the completion');
  let echoStream = '';
  for await (const chunk of await client.completions.create({ model: 'stories260k', prompt: PROMPT, temperature: 0, max_tokens: 40, echo: true, stream: true })) {
    echoStream += chunk.choices[0]?.text ?? '';
  }
  t.equal(echoStream, PROMPT + text, 'echo streams the prompt first');

  const stopped = await client.completions.create({ model: 'stories260k', prompt: PROMPT, temperature: 0, max_tokens: 40, stop: ['Lily'] });
  t.equal(stopped.choices[0].text, ', there was a little girl named ');
  t.equal(stopped.choices[0].finish_reason, 'stop');

  const short = await client.completions.create({ model: 'stories260k', prompt: PROMPT, temperature: 0 });
  t.equal(short.usage?.completion_tokens, 16, "max_tokens defaults to OpenAI's 16");
  t.ok(text.startsWith(short.choices[0].text), 'the default is a shorter piece of the same text');

  const other = await client.completions.create({ model: 'stories260k', prompt: 'The dog', temperature: 0, max_tokens: 20 });
  const listed = await client.completions.create({ model: 'stories260k', prompt: [PROMPT, 'The dog'], temperature: 0, max_tokens: 20 });
  t.same(listed.choices.map((c) => c.index), [0, 1], 'one choice per prompt');
  t.ok(text.startsWith(listed.choices[0].text), 'the first prompt continues as it does alone');
  t.equal(listed.choices[1].text, other.choices[0].text, 'the second prompt continues as it does alone');
  t.same(listed.usage, {
    prompt_tokens: 5 + other.usage!.prompt_tokens, completion_tokens: 40, total_tokens: 45 + other.usage!.prompt_tokens,
  }, 'usage adds up the prompts and the completions');
});

t.test('n choices in one request', async (t) => {
  const svc = await startTestService(t);
  const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused' });

  const greedy = await client.completions.create({ model: 'stories260k', prompt: PROMPT, temperature: 0, max_tokens: 30, n: 2 });
  t.same(greedy.choices.map((c) => c.index), [0, 1]);
  t.equal(greedy.choices[0].text, greedy.choices[1].text, 'greedy choices are equal');
  t.ok(GREEDY.startsWith(greedy.choices[0].text), 'and are the greedy text');
  t.same(greedy.usage, { prompt_tokens: 5, completion_tokens: 60, total_tokens: 65 }, 'the prompt counts once, completions add up');

  const sampled = await client.completions.create({ model: 'stories260k', prompt: PROMPT, temperature: 1, seed: 7, max_tokens: 30, n: 2 });
  t.not(sampled.choices[0].text, sampled.choices[1].text, 'seeded choices differ');
  const seed7 = await client.completions.create({ model: 'stories260k', prompt: PROMPT, temperature: 1, seed: 7, max_tokens: 30 });
  const seed8 = await client.completions.create({ model: 'stories260k', prompt: PROMPT, temperature: 1, seed: 8, max_tokens: 30 });
  t.equal(sampled.choices[0].text, seed7.choices[0].text, 'choice 0 samples with the seed');
  t.equal(sampled.choices[1].text, seed8.choices[0].text, 'choice 1 samples with seed + 1');

  const chat = await client.chat.completions.create({ ...storyRequest({ max_tokens: 30, temperature: 1, seed: 7 }), n: 2 } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  t.equal(chat.choices.length, 2);
  t.same(chat.choices.map((c) => c.index), [0, 1]);
  t.equal(chat.choices[0].message.content, seed7.choices[0].text, 'chat choices sample the same way');
  t.equal(chat.choices[1].message.content, seed8.choices[0].text);
  t.same(chat.usage, { prompt_tokens: 5, completion_tokens: 60, total_tokens: 65 });

  const stream = await client.chat.completions.create({
    ...storyRequest({ max_tokens: 30, temperature: 1, seed: 7 }), n: 2, stream: true, stream_options: { include_usage: true },
  } as OpenAI.ChatCompletionCreateParamsStreaming);
  const texts = ['', ''];
  const finishes: (string | null)[] = [null, null];
  const roles = [0, 0];
  let usage;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      texts[c.index] += c.delta.content ?? '';
      if (c.delta.role === 'assistant') roles[c.index]++;
      finishes[c.index] = c.finish_reason ?? finishes[c.index];
    }
    usage = chunk.usage ?? usage;
  }
  t.same(texts, [chat.choices[0].message.content, chat.choices[1].message.content], 'each index streams its own choice');
  t.same(roles, [1, 1], 'one role chunk per choice');
  t.same(finishes, ['length', 'length']);
  t.same(usage, { prompt_tokens: 5, completion_tokens: 60, total_tokens: 65 });

  const both = await client.completions.create({ model: 'stories260k', prompt: [PROMPT, 'The dog'], temperature: 0, max_tokens: 10, n: 2 });
  t.same(both.choices.map((c) => c.index), [0, 1, 2, 3], 'choice p * n + i is choice i of prompt p');
  t.equal(both.choices[0].text, both.choices[1].text);
  t.equal(both.choices[2].text, both.choices[3].text);
  t.not(both.choices[0].text, both.choices[2].text);
});

t.test('the values that mean "not used" are accepted', async (t) => {
  const svc = await startTestService(t);
  const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused' });
  const inert = {
    logprobs: null, top_logprobs: null, tools: [], tool_choice: 'none', response_format: { type: 'text' }, logit_bias: null,
    functions: [], function_call: 'none', n: 1, modalities: ['text'],
  };
  const chat = await client.chat.completions.create({ ...storyRequest(), ...inert } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming);
  t.ok(chat.choices[0].message.content?.startsWith(prefix), 'a chat request with inert values is served as without them');
  const legacy = await client.completions.create({ model: 'stories260k', prompt: PROMPT, temperature: 0, max_tokens: 40, logprobs: null, suffix: null, best_of: 1, logit_bias: {} });
  t.ok(legacy.choices[0].text.startsWith(prefix), 'so is a text completion');
  const refused = await client.chat.completions.create({ ...storyRequest(), logit_bias: { 42: 5 } } as OpenAI.ChatCompletionCreateParamsNonStreaming).catch((e) => e);
  t.ok(refused instanceof OpenAI.BadRequestError, 'a logit_bias is refused, not ignored');
  t.equal(refused.code, 'unsupported_parameter');
  t.equal(refused.param, 'logit_bias');
});

t.test("Crucible's own HttpClient: getModel, completions and completionsStream", async (t) => {
  const svc = await startTestService(t);
  const client = new HttpClient(svc.url);
  t.equal((await client.getModel(STORIES_ID)).id, STORIES_ID, 'an id with a colon survives the path');
  await t.rejects(client.getModel('ghost:1'), { code: 'model_not_found' });
  const whole = await client.completions({ model: 'stories260k', prompt: PROMPT, temperature: 0, max_tokens: 20, n: 2 });
  let streamed = '';
  for await (const c of client.completionsStream({ model: 'stories260k', prompt: PROMPT, temperature: 0, max_tokens: 20 })) streamed += c.choices[0]?.text ?? '';
  t.equal(streamed, whole.choices[1].text);
  t.ok(GREEDY.startsWith(streamed));
});
