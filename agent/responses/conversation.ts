import type { ChatMessage } from '../../protocol/chat.js';
import type { ConversationItem } from '../../protocol/responses.js';

/**
 * A conversation's items as chat messages: instructions first as a system message, messages as
 * they are, consecutive `function_call` items as one assistant turn's `tool_calls` (joined to
 * the assistant text just before them), `function_call_output` items as `tool` messages.
 */
export function toChatMessages(instructions: string | null, items: ConversationItem[]): ChatMessage[] {
  const out: ChatMessage[] = instructions ? [{ role: 'system', content: instructions }] : [];
  for (const item of items) {
    if (item.type === 'message') {
      out.push({ role: item.role, content: item.content.map((p) => p.text).join('') });
    } else if (item.type === 'function_call') {
      const last = out[out.length - 1];
      const call = { id: item.call_id, type: 'function' as const, function: { name: item.name, arguments: item.arguments } };
      if (last && last.role === 'assistant') (last.tool_calls ??= []).push(call);
      else out.push({ role: 'assistant', content: '', tool_calls: [call] });
    } else {
      out.push({ role: 'tool', tool_call_id: item.call_id, content: item.output });
    }
  }
  return out;
}

/**
 * The items less their oldest turn, for `truncation: auto`: one item, or an assistant's calls
 * with the outputs that answer them, so no tool output is left without its call.
 */
export function dropOldest(items: ConversationItem[]): { items: ConversationItem[]; dropped: number } {
  let n = 1;
  if (items[0]?.type === 'function_call' || (items[0]?.type === 'message' && items[0].role === 'assistant')) {
    while (n < items.length && (items[n].type === 'function_call' || items[n].type === 'function_call_output')) n++;
  }
  return { items: items.slice(n), dropped: n };
}
