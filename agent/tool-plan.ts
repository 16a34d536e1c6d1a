import type { ChatCompletionRequest, SamplingParams } from '../protocol/chat.js';
import { CrucibleError } from '../protocol/errors.js';
import { toolCallSchema } from '../protocol/grammar.js';
import type { LoadedModelFacts, PromptInput } from '../protocol/worker-messages.js';
import { ForcedCallParser, TaggedCallParser, type ToolParser } from './tool-calls.js';

/** How one chat request's tools reach the model and come back out of its text. */
export interface ToolPlan {
  input: PromptInput;
  sampling: SamplingParams;
  /** A parser per choice that turns the text into tool calls; null when the answer is text. */
  parser: () => ToolParser | null;
  /** The output is a call, never text (`required` or a named function). */
  forced: boolean;
}

/**
 * - `required` or a named function: the grammar forces `{"name", "arguments"}` JSON for one of the
 *   functions (an array of them when parallel calls are allowed), on any model.
 * - `auto` on a model whose chat template teaches Hermes-style `<tool_call>` blocks: the template
 *   shows the functions, the model chooses, and whatever it puts in a block is constrained to a
 *   valid call.
 * - `auto` on a model without a tool template: it answers in text.
 */
export function planTools(req: ChatCompletionRequest, facts: LoadedModelFacts): ToolPlan {
  const shown = req.tools.map((f) => ({ type: 'function', function: { name: f.name, description: f.description ?? '', parameters: f.parameters } }));
  const withTools: PromptInput = facts.templateTakesTools && shown.length > 0 ? { messages: req.messages, tools: shown } : req.messages;
  if (req.tools.length === 0 || req.toolChoice === 'none') return { input: req.messages, sampling: req.sampling, parser: () => null, forced: false };
  if (req.toolChoice === 'required' || typeof req.toolChoice === 'object') {
    const named = typeof req.toolChoice === 'object' ? req.toolChoice.name : null;
    const fns = named ? req.tools.filter((f) => f.name === named) : req.tools;
    const schema = toolCallSchema(fns, req.parallelToolCalls && !named);
    return {
      input: withTools,
      sampling: { ...req.sampling, grammar: { kind: 'json_schema', schema, strict: true } },
      parser: () => new ForcedCallParser(),
      forced: true,
    };
  }
  if (facts.toolTags) {
    if (req.sampling.grammar) {
      throw new CrucibleError('unsupported_parameter',
        "'response_format' together with tool_choice auto is not supported on a model that calls tools in its own syntax; use tool_choice required or drop response_format", 'response_format');
    }
    const tags = facts.toolTags;
    return {
      input: withTools,
      sampling: { ...req.sampling, grammar: { kind: 'tool_tags', begin: tags.begin, end: tags.end, functions: req.tools.map((f) => ({ name: f.name, parameters: f.parameters })) } },
      parser: () => new TaggedCallParser(tags.begin.trim(), tags.end.trim()),
      forced: false,
    };
  }
  return { input: withTools, sampling: req.sampling, parser: () => null, forced: false };
}
