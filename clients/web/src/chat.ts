import { ApiError, type ChatCompletionChunk, type ModelInfo, apiKey, call, getJson, sseData } from './api.js';
import { h, setText } from './dom.js';

interface Message { role: 'system' | 'user' | 'assistant'; content: string }

/**
 * The chat playground: a conversation streamed from `POST /v1/chat/completions`; Stop aborts the
 * request, which cancels the generation on the server. Each answer shows its time to first token
 * and tokens per second (measured here, from the stream's usage), and the request is shown as a
 * curl command and as openai-client code.
 */
export function chatView(root: HTMLElement, notify: (msg: string, error?: boolean) => void): { refreshModels(): Promise<void>; stop(): void } {
  const model = h('select', { id: 'chat-model', name: 'model' });
  const system = h('textarea', { id: 'chat-system', rows: 2, placeholder: 'Optional system prompt' });
  const num = (id: string, attrs: Record<string, unknown>) => h('input', { id, type: 'number', ...attrs });
  const temperature = num('chat-temperature', { min: 0, max: 2, step: 0.1, value: '0' });
  const topP = num('chat-top-p', { min: 0, max: 1, step: 0.05, value: '1' });
  const maxTokens = num('chat-max-tokens', { min: 1, step: 1, value: '256' });
  const seed = num('chat-seed', { step: 1, placeholder: 'random' });
  const stop = h('input', { id: 'chat-stop', type: 'text', placeholder: 'separated by |  (\\n is a newline)', spellcheck: false });
  const ignoreEos = h('input', { id: 'chat-ignore-eos', type: 'checkbox' });
  const schema = h('textarea', { id: 'chat-schema', rows: 3, spellcheck: false, placeholder: '{"type": "object", "properties": {...}} (the answer will validate)' });
  const tools = h('textarea', { id: 'chat-tools', rows: 3, spellcheck: false, placeholder: '[{"type": "function", "function": {"name": "...", "parameters": {...}}}]' });
  const toolChoice = h('select', { id: 'chat-tool-choice' }, ...['auto', 'required', 'none'].map((v) => h('option', { value: v }, v)));
  const input = h('textarea', { id: 'chat-input', rows: 3, placeholder: 'Message (Ctrl+Enter to send, Esc to stop)', 'aria-label': 'Message' });
  const send = h('button', { id: 'chat-send', class: 'primary', type: 'submit' }, 'Send');
  const stopButton = h('button', { id: 'chat-stop-button', type: 'button', disabled: true, class: 'danger' }, 'Stop');
  const clear = h('button', { id: 'chat-clear', type: 'button', class: 'ghost' }, 'Clear');
  const log = h('div', { id: 'chat-log', class: 'chat-log', 'aria-live': 'polite' });
  const curl = h('pre', { id: 'chat-curl', class: 'code' });
  const js = h('pre', { id: 'chat-js', class: 'code' });
  const copy = (pre: HTMLElement) => h('button', {
    class: 'small ghost', type: 'button', onclick: async (ev: Event) => {
      const b = ev.currentTarget as HTMLButtonElement;
      try {
        await navigator.clipboard.writeText(pre.textContent ?? '');
        b.textContent = 'Copied';
      } catch {
        getSelection()?.selectAllChildren(pre);
        b.textContent = 'Selected: press Ctrl+C';
      }
      setTimeout(() => { b.textContent = 'Copy'; }, 1500);
    },
  }, 'Copy');
  const field = (label: string, el: HTMLElement) => h('label', { class: 'field' }, h('span', {}, label), el);

  const form = h('form', { class: 'chat-input' }, input, h('div', { class: 'row' }, send, stopButton, clear));
  root.append(
    h('h2', {}, 'Chat'),
    h('div', { class: 'chat-layout' },
      h('div', { class: 'card settings' },
        field('Model', model),
        field('System prompt', system),
        h('div', { class: 'grid2' },
          field('Temperature', temperature), field('Top p', topP), field('Max tokens', maxTokens), field('Seed', seed)),
        field('Stop sequences', stop),
        h('label', { class: 'check' }, ignoreEos, ' Ignore end of text (ignore_eos)'),
        h('details', { id: 'chat-structured' },
          h('summary', {}, 'Structured output and tools'),
          field('JSON Schema (response_format)', schema),
          field('Tools (function definitions)', tools),
          field('Tool choice', toolChoice))),
      h('div', { class: 'card conversation' }, log, form)),
    h('details', { class: 'card', id: 'chat-code' },
      h('summary', {}, 'This request as code'),
      h('div', { class: 'code-head' }, h('h3', {}, 'curl'), copy(curl)), curl,
      h('div', { class: 'code-head' }, h('h3', {}, 'openai (JavaScript)'), copy(js)), js),
  );

  const messages: Message[] = [];
  let current: AbortController | null = null;

  const body = (msgs: Message[]) => {
    const b: Record<string, unknown> = { model: model.value, messages: msgs };
    const n = (el: HTMLInputElement) => (el.value.trim() === '' ? undefined : Number(el.value));
    if (n(temperature) !== undefined) b.temperature = n(temperature);
    if (n(topP) !== undefined) b.top_p = n(topP);
    if (n(maxTokens) !== undefined) b.max_tokens = n(maxTokens);
    if (n(seed) !== undefined) b.seed = n(seed);
    const stops = stop.value.split('|').map((s) => s.replace(/\\n/g, '\n')).filter((s) => s.length > 0);
    if (stops.length) b.stop = stops;
    if (ignoreEos.checked) b.ignore_eos = true;
    // Invalid JSON in these boxes is reported when sending; the code view shows it as typed.
    const parsed = (el: HTMLTextAreaElement, what: string) => {
      if (!el.value.trim()) return undefined;
      try { return JSON.parse(el.value); } catch { throw new Error(`${what} is not valid JSON`); }
    };
    const s = parsed(schema, 'The JSON Schema');
    if (s !== undefined) b.response_format = { type: 'json_schema', json_schema: { name: 'console', schema: s, strict: true } };
    const t = parsed(tools, 'The tools');
    if (t !== undefined) { b.tools = t; b.tool_choice = toolChoice.value; }
    return b;
  };
  const safeBody = (msgs: Message[]) => { try { return body(msgs); } catch { return { model: model.value, messages: msgs }; } };
  const withSystem = (msgs: Message[]): Message[] => (system.value.trim() ? [{ role: 'system', content: system.value }, ...msgs] : msgs);

  const showCode = () => {
    const pending = input.value.trim() ? [...messages, { role: 'user' as const, content: input.value }] : messages;
    const b: Record<string, unknown> = { ...safeBody(withSystem(pending.length ? pending : [{ role: 'user', content: 'Hello' }])), stream: true };
    const base = location.origin;
    const auth = apiKey() ? " \\\n  -H \"Authorization: Bearer $CRUCIBLE_API_KEY\"" : '';
    setText(curl, `curl -N ${base}/v1/chat/completions \\\n  -H 'Content-Type: application/json'${auth} \\\n  -d '${JSON.stringify(b).replace(/'/g, "'\\''")}'`);
    const { model: m, ...rest } = b;
    setText(js, `import OpenAI from 'openai';\n\nconst client = new OpenAI({ baseURL: '${base}/v1', apiKey: ${apiKey() ? 'process.env.CRUCIBLE_API_KEY' : "'unused'"} });\nconst stream = await client.chat.completions.create(${JSON.stringify({ model: m, ...rest }, null, 2)});\nfor await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? '');`);
  };
  for (const el of [model, system, temperature, topP, maxTokens, seed, stop, input, ignoreEos, schema, tools, toolChoice]) el.addEventListener('input', showCode);
  model.addEventListener('change', showCode);

  const bubble = (m: Message) => {
    const el = h('div', { class: `msg ${m.role}`, 'data-role': m.role }, h('div', { class: 'who' }, m.role), h('div', { class: 'text' }, m.content));
    log.append(el);
    return el;
  };

  const run = async () => {
    const text = input.value;
    if (!text.trim() || current) return;
    if (!model.value) { notify('Pick a model first (load one from Models)', true); return; }
    let request: Record<string, unknown>;
    try { request = body(withSystem([...messages, { role: 'user', content: text }])); } catch (err) { notify((err as Error).message, true); return; }
    messages.push({ role: 'user', content: text });
    bubble(messages.at(-1)!);
    input.value = '';
    showCode();
    const answer: Message = { role: 'assistant', content: '' };
    const el = bubble(answer);
    el.classList.add('streaming');
    const out = el.querySelector('.text')!;
    const stats = h('div', { class: 'stats', 'data-stats': '' }, 'waiting for the first token…');
    el.append(stats);
    const ac = new AbortController();
    current = ac;
    send.disabled = true;
    stopButton.disabled = false;
    const t0 = performance.now();
    let tFirst: number | null = null;
    let chunks = 0;
    let usage: ChatCompletionChunk['usage'] = null;
    let finish: string | null = null;
    let outcome = 'done';
    try {
      const res = await call('/v1/chat/completions', {
        method: 'POST', signal: ac.signal,
        body: JSON.stringify({ ...request, stream: true, stream_options: { include_usage: true } }),
      });
      for await (const data of sseData(res)) {
        if (data === '[DONE]') break;
        const msg = JSON.parse(data);
        if (msg.error) throw new ApiError(500, msg.error.message ?? String(msg.error));
        const chunk = msg as ChatCompletionChunk;
        if (chunk.usage) usage = chunk.usage;
        const delta = chunk.choices[0]?.delta?.content;
        if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
        // Tool calls are shown as the JSON the API streams: name first, then argument pieces.
        for (const call of chunk.choices[0]?.delta?.tool_calls ?? []) {
          tFirst ??= performance.now();
          chunks++;
          if (call.function.name) answer.content += `${answer.content ? '\n' : ''}${call.function.name}(`;
          answer.content += call.function.arguments;
          out.textContent = answer.content;
        }
        if (finish === 'tool_calls' && !answer.content.endsWith(')')) { answer.content += ')'; out.textContent = answer.content; }
        if (delta) {
          tFirst ??= performance.now();
          chunks++;
          answer.content += delta;
          out.textContent = answer.content;
          log.scrollTop = log.scrollHeight;
        }
      }
    } catch (err) {
      if (ac.signal.aborted) outcome = 'stopped';
      else {
        outcome = 'failed';
        el.append(h('div', { class: 'error' }, (err as Error).message));
        notify(`Chat failed: ${(err as Error).message}`, true);
      }
    } finally {
      const tEnd = performance.now();
      const tokens = usage?.completion_tokens ?? chunks;
      const rate = tFirst !== null && tEnd > tFirst && tokens > 1 ? (tokens - 1) / ((tEnd - tFirst) / 1000) : null;
      el.classList.remove('streaming');
      el.dataset.outcome = outcome;
      stats.textContent = [
        `TTFT ${tFirst === null ? '–' : `${Math.round(tFirst - t0)} ms`}`,
        `${rate === null ? '–' : rate.toFixed(1)} tok/s`,
        `${tokens} tokens`,
        outcome === 'stopped' ? 'stopped' : finish ? `finish: ${finish}` : outcome,
      ].join(' · ');
      // A tool call is shown but not replayed as text: the playground runs no tools.
      if (answer.content && finish !== 'tool_calls') messages.push(answer);
      else if (finish !== 'tool_calls') messages.pop();
      current = null;
      send.disabled = false;
      stopButton.disabled = true;
      showCode();
    }
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); void run(); });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); void run(); }
  });
  root.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && current) { ev.preventDefault(); current.abort(); } });
  stopButton.addEventListener('click', () => current?.abort());
  clear.addEventListener('click', () => { current?.abort(); messages.length = 0; log.replaceChildren(); showCode(); input.focus(); });

  return {
    async refreshModels() {
      try {
        const rows = (await getJson<ModelInfo[]>('/openai/ps')).filter((m) => m.task === 'chat');
        const before = model.value;
        model.replaceChildren(...rows.map((m) => h('option', { value: m.id }, `${m.alias ?? m.id}${m.state === 'loaded' ? ' (loaded)' : ''}`)));
        const pick = rows.find((m) => m.id === before) ?? rows.find((m) => m.state === 'loaded') ?? rows[0];
        if (pick) model.value = pick.id;
        showCode();
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401)) notify(`Could not list models: ${(err as Error).message}`, true);
      }
    },
    stop() { current?.abort(); },
  };
}
