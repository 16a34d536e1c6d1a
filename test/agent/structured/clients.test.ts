import t from 'tap';
import OpenAI from 'openai';
import { zodFunction, zodResponseFormat } from 'openai/helpers/zod';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { ChatOpenAI } from '@langchain/openai';
import { generateObject, generateText, jsonSchema, tool } from 'ai';
import { z } from 'zod';
import { startTestService } from '../../helpers/service.js';

const Person = z.object({ name: z.string().max(12), age: z.number().int().min(0).max(99), pets: z.array(z.enum(['cat', 'dog', 'fish'])).max(2) });
const weatherParams = { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city', 'days'], additionalProperties: false } as const;

t.test('openai: chat.completions.parse with a zod schema, and streamed tool calls sent back in the conversation', async (t) => {
  const svc = await startTestService(t);
  const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused', maxRetries: 0 });

  for (const seed of [1, 2, 3]) {
    const parsed = await client.chat.completions.parse({
      model: 'stories260k', messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 1, seed, max_tokens: 200,
      response_format: zodResponseFormat(Person, 'person'),
    });
    const message = parsed.choices[0].message;
    t.ok(Person.safeParse(message.parsed).success, `seed ${seed}: parsed ${JSON.stringify(message.parsed)}`);
    t.equal(parsed.choices[0].finish_reason, 'stop');
  }

  const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather for a city', parameters: weatherParams } }];
  const stream = await client.chat.completions.create({
    model: 'stories260k', messages: [{ role: 'user', content: 'What is the weather in Paris?' }], temperature: 1, seed: 11, max_tokens: 100,
    tools, tool_choice: 'required', stream: true,
  });
  const deltas: OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
  let finish: string | null = null;
  for await (const chunk of stream) {
    deltas.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  t.ok(deltas.length >= 2, `the call arrived in ${deltas.length} pieces`);
  t.match(deltas[0], { index: 0, id: /^call_/, type: 'function', function: { name: 'get_weather', arguments: '' } }, 'id and name first');
  t.ok(deltas.slice(1).every((d) => d.id === undefined && d.function?.name === undefined), 'then argument pieces only');
  const args = JSON.parse(deltas.map((d) => d.function?.arguments ?? '').join(''));
  t.ok(args.city.length <= 12 && args.days >= 1 && args.days <= 7, `valid arguments ${JSON.stringify(args)}`);
  t.equal(finish, 'tool_calls');

  // The runner helper: the tool answers and the conversation goes on.
  const back = await client.chat.completions.create({
    model: 'stories260k', temperature: 0, max_tokens: 10,
    messages: [
      { role: 'user', content: 'What is the weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: deltas[0].id!, type: 'function', function: { name: 'get_weather', arguments: JSON.stringify(args) } }] },
      { role: 'tool', tool_call_id: deltas[0].id!, content: '{"sky": "sunny"}' },
    ],
  });
  t.equal(back.choices[0].finish_reason, 'length', 'a conversation with a tool call and its result is served');

  // zodFunction with a named tool_choice through the parse helper.
  const named = await client.chat.completions.parse({
    model: 'stories260k', messages: [{ role: 'user', content: 'Make a person' }], temperature: 1, seed: 4, max_tokens: 150,
    tools: [zodFunction({ name: 'make_person', parameters: Person })], tool_choice: { type: 'function', function: { name: 'make_person' } },
  });
  const call = named.choices[0].message.tool_calls![0] as { function: { name: string; parsed_arguments: unknown } };
  t.equal(call.function.name, 'make_person');
  t.ok(Person.safeParse(call.function.parsed_arguments).success, `parsed arguments ${JSON.stringify(call.function.parsed_arguments)}`);
  t.equal(named.choices[0].message.content, null);
});

t.test('Vercel ai: generateObject and forced tool calls', async (t) => {
  const svc = await startTestService(t);
  const crucible = createOpenAICompatible({ name: 'crucible', baseURL: `${svc.url}/v1`, supportsStructuredOutputs: true });
  const { object } = await generateObject({ model: crucible('stories260k'), schema: Person, prompt: 'Once upon a time', temperature: 1, seed: 5, maxRetries: 0 });
  t.ok(Person.safeParse(object).success, `object ${JSON.stringify(object)}`);


  const result = await generateText({
    model: crucible('stories260k'), prompt: 'Weather in Oslo?', temperature: 1, seed: 9, maxRetries: 0, maxOutputTokens: 100, toolChoice: 'required',
    tools: { get_weather: tool({ description: 'Weather for a city', inputSchema: jsonSchema<{ city: string; days: number }>(weatherParams) }) },
  });
  t.equal(result.toolCalls.length, 1);
  t.equal(result.toolCalls[0].toolName, 'get_weather');
  const input = result.toolCalls[0].input as { city: string; days: number };
  t.ok(typeof input.city === 'string' && input.days >= 1 && input.days <= 7, `input ${JSON.stringify(input)}`);
  t.equal(result.finishReason, 'tool-calls');
});

t.test('LangChain: withStructuredOutput (JSON Schema and function calling) and bindTools', async (t) => {
  const svc = await startTestService(t);
  const chat = new ChatOpenAI({ model: 'stories260k', temperature: 1, maxTokens: 200, apiKey: 'unused', configuration: { baseURL: `${svc.url}/v1` }, maxRetries: 0, modelKwargs: { seed: 3 } });
  for (const method of ['jsonSchema', 'functionCalling'] as const) {
    const out = await chat.withStructuredOutput(Person, { name: 'person', method }).invoke('Once upon a time');
    t.ok(Person.safeParse(out).success, `${method}: ${JSON.stringify(out)}`);
  }
  const bound = chat.bindTools([{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: weatherParams } }], { tool_choice: 'required' });
  const message = await bound.invoke('Weather in Rome?');
  t.equal(message.tool_calls?.length, 1);
  t.equal(message.tool_calls?.[0].name, 'get_weather');
  const args = message.tool_calls?.[0].args as { city: string; days: number };
  t.ok(args.days >= 1 && args.days <= 7, `args ${JSON.stringify(args)}`);
});
