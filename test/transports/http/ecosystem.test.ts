import t from 'tap';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { ChatOpenAI, OpenAI as LangChainOpenAI } from '@langchain/openai';
import { APICallError, generateText, jsonSchema, streamText, tool } from 'ai';
import { GREEDY, STORIES_ID, startTestService } from '../../helpers/service.js';

const PROMPT = 'Once upon a time';
const greedy20 = GREEDY.slice(0, 62); // its first 20 tokens: ", there was a little girl named Lily. She loved to play outsid"

t.test('Vercel ai: generateText and streamText over @ai-sdk/openai-compatible', async (t) => {
  const svc = await startTestService(t);
  const crucible = createOpenAICompatible({ name: 'crucible', baseURL: `${svc.url}/v1`, includeUsage: true });

  const whole = await generateText({ model: crucible('stories260k'), prompt: PROMPT, temperature: 0, maxOutputTokens: 20 });
  t.equal(whole.text, greedy20);
  t.equal(whole.finishReason, 'length');
  t.equal(whole.usage.inputTokens, 5);
  t.equal(whole.usage.outputTokens, 20);
  t.equal(whole.response.modelId, STORIES_ID);

  const stream = streamText({ model: crucible('stories260k'), prompt: PROMPT, temperature: 0, maxOutputTokens: 20 });
  let text = '';
  for await (const piece of stream.textStream) text += piece;
  t.equal(text, greedy20, 'streamed text equals the whole text');
  t.equal(await stream.finishReason, 'length');
  t.equal((await stream.usage).outputTokens, 20);

  // The completion model speaks /v1/completions (with its own chat-style prompt framing).
  const legacy = await generateText({ model: crucible.completionModel('stories260k'), prompt: PROMPT, temperature: 0, maxOutputTokens: 10 });
  t.ok(legacy.text.length > 0, `completion model: ${JSON.stringify(legacy.text)}`);
  t.equal(legacy.usage.outputTokens, 10);

  // A model without a tool template answers in text under the default tool_choice (auto).
  const auto = await generateText({
    model: crucible('stories260k'), prompt: PROMPT, maxRetries: 0, temperature: 0, maxOutputTokens: 20,
    tools: { weather: tool({ description: 'the weather', inputSchema: jsonSchema<Record<string, never>>({ type: 'object', properties: {} }) }) },
  });
  t.equal(auto.text, greedy20);
  t.same(auto.toolCalls, []);
  const bad = await generateText({ model: crucible('stories260k'), prompt: PROMPT, maxRetries: 0, temperature: 5 }).catch((e) => e);
  t.ok(APICallError.isInstance(bad), 'bad input comes back as the API error');
  t.equal(bad.statusCode, 400);
});

t.test('LangChain: ChatOpenAI invoke and stream, OpenAI (text completions) invoke', async (t) => {
  const svc = await startTestService(t);
  const configuration = { baseURL: `${svc.url}/v1` };
  const chat = new ChatOpenAI({ model: 'stories260k', temperature: 0, maxTokens: 20, apiKey: 'unused', configuration, maxRetries: 0 });

  const message = await chat.invoke(PROMPT);
  t.equal(message.content, greedy20);
  t.same(message.usage_metadata && { input: message.usage_metadata.input_tokens, output: message.usage_metadata.output_tokens }, { input: 5, output: 20 });
  t.equal(message.response_metadata.finish_reason, 'length');
  t.equal(message.response_metadata.model_name, STORIES_ID);

  let streamed = '';
  for await (const chunk of await chat.stream(PROMPT)) streamed += chunk.content;
  t.equal(streamed, greedy20, 'streamed text equals the invoked text');

  const llm = new LangChainOpenAI({ model: 'stories260k', temperature: 0, maxTokens: 20, apiKey: 'unused', configuration, maxRetries: 0 });
  t.equal(await llm.invoke(PROMPT), greedy20, 'the legacy completions LLM continues the prompt as it is');
});
