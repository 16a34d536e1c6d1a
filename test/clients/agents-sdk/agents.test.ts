import t from 'tap';
import { Agent, OpenAIProvider, Runner, setTracingDisabled, tool } from '@openai/agents';
import { z } from 'zod';
import { startTestService } from '../../helpers/service.js';

// Traces would be sent to OpenAI's servers; nothing here may leave the machine.
setTracingDisabled(true);

t.test('the OpenAI Agents SDK runs a one-tool agent on the bundled model over the Responses API', async (t) => {
  const svc = await startTestService(t);
  const calls: string[] = [];
  const getWeather = tool({
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: z.object({ city: z.string().max(12) }),
    execute: async ({ city }) => {
      calls.push(city);
      return `It is sunny in ${city}.`;
    },
  });
  const agent = new Agent({
    name: 'weather',
    instructions: 'Answer questions about the weather.',
    model: 'stories260k',
    tools: [getWeather],
    // A structured final answer (text.format json_schema): the grammar ends it, so the tiny model
    // never runs to the end of its context (the SDK fails a run whose answer is cut short).
    outputType: z.object({ answer: z.string().max(20) }),
    // Required: the tiny model calls the tool; the SDK then resets the choice so the run can end.
    modelSettings: { toolChoice: 'required', temperature: 0 },
  });
  const runner = new Runner({ modelProvider: new OpenAIProvider({ baseURL: `${svc.url}/v1`, apiKey: 'unused', useResponses: true }) });
  const result = await runner.run(agent, 'What is the weather in Paris?', { maxTurns: 4 });
  t.equal(calls.length, 1, `the tool ran once with ${JSON.stringify(calls)}`);
  t.ok(calls[0].length <= 12, 'with arguments valid against its schema');
  t.type(result.finalOutput?.answer, 'string', `final output ${JSON.stringify(result.finalOutput)}`);
  const types = result.newItems.map((i) => i.type);
  t.same(types.slice(0, 2), ['tool_call_item', 'tool_call_output_item'], `items ${types.join(', ')}`);
  t.equal(types.at(-1), 'message_output_item');

  // Streamed, the same run arrives as Responses events.
  const streamed = await runner.run(agent, 'What is the weather in Rome?', { maxTurns: 4, stream: true });
  const events: string[] = [];
  for await (const e of streamed) if (e.type === 'raw_model_stream_event') events.push(e.data.type);
  await streamed.completed;
  t.equal(calls.length, 2, 'the tool ran again');
  t.ok(events.includes('response_done') && events.includes('output_text_delta'), `stream events ${[...new Set(events)].join(', ')}`);
  t.type(streamed.finalOutput?.answer, 'string', `final output ${JSON.stringify(streamed.finalOutput)}`);
});
