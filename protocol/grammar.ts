/**
 * What a sequence's output must match, as the worker enforces it: tokens that would break the
 * grammar are masked out before sampling.
 * - `json_schema`: one JSON value valid against `schema` (unspecified `additionalProperties`
 *   counts as false when `strict`, so outputs stay valid and small models do not wander);
 * - `json_object`: any JSON object;
 * - `tool_tags`: free text in which every `<begin>...<end>` block the model opens is a call of one
 *   of the given functions (Hermes-style `<tool_call>` templates under `tool_choice: auto`).
 */
export type GrammarSpec =
  | { kind: 'json_schema'; schema: Record<string, unknown> | boolean; strict: boolean }
  | { kind: 'json_object' }
  | { kind: 'tool_tags'; begin: string; end: string; functions: { name: string; parameters: Record<string, unknown> }[] };

/** One function a request offers (OpenAI `tools[].function`). */
export interface ToolFunction {
  name: string;
  description?: string;
  parameters: Record<string, unknown>;
  strict?: boolean;
}

export type ToolChoice = 'none' | 'auto' | 'required' | { name: string };

/** One sampled token's log-probability and its strongest alternatives (OpenAI `logprobs.content[]`). */
export interface TokenLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
  top_logprobs: { token: string; logprob: number; bytes: number[] | null }[];
}

/**
 * The JSON a forced tool call is generated as: `{"name": ..., "arguments": {...}}` for one of the
 * functions, or a non-empty array of them when parallel calls are allowed.
 */
export function toolCallSchema(functions: ToolFunction[], parallel: boolean): Record<string, unknown> {
  const calls = functions.map((f) => ({
    type: 'object',
    properties: { name: { const: f.name }, arguments: f.parameters },
    required: ['name', 'arguments'],
    additionalProperties: false,
  }));
  const one = calls.length === 1 ? calls[0] : { anyOf: calls };
  return parallel ? { type: 'array', items: one, minItems: 1, maxItems: 8 } : one;
}
