import t from 'tap';
import { copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeGenaiModel } from '../../workers/optimize/write-genai.js';
import { GREEDY, STORIES, startTestService, storyRequest } from '../helpers/service.js';

const post = (url: string, body: unknown) => fetch(`${url}/v1/chat/completions`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});
const PROMPTS = ['Once upon a time', 'The cat', 'Tom and Sue went to the big park', 'A', 'Lily had a red ball. One day', 'The sun', 'Ben and his mom', 'There was a dog'];

async function streamText(url: string, body: unknown): Promise<string> {
  const res = await post(url, { ...(body as object), stream: true });
  let text = '';
  for (const line of (await res.text()).split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    text += JSON.parse(line.slice(6)).choices[0]?.delta?.content ?? '';
  }
  return text;
}

t.test('a Foundry-style int4 model answers 8 concurrent streams with their single-request text', async (t) => {
  const svc = await startTestService(t);
  // Foundry's CPU format: MatMulNBits block 32 and GroupQueryAttention. Accuracy level 0, since
  // ONNX Runtime's kernels round a row differently alone and in a batch by ~1e-7, which int8
  // activations (level 4) can amplify into another greedy token late in a story (README).
  writeGenaiModel(STORIES, join(svc.config.modelsDir, 'tales-int4'), {
    int4: { blockSize: 32, accuracyLevel: 0, zeroPoints: false, lmHead: true }, ioType: 'float32',
    manifest: { id: 'tales-cpu-int4-rtn-block-32:1', alias: 'tales' },
  });
  const req = (content: string) => storyRequest({ model: 'tales', max_tokens: 48, messages: [{ role: 'user', content }] });
  const alone: string[] = [];
  for (const p of PROMPTS) alone.push(await streamText(svc.url, req(p)));
  const together = await Promise.all(PROMPTS.map((p) => streamText(svc.url, req(p))));
  t.same(together, alone, 'every stream gets the text it gets alone');
  const ps = ((await (await fetch(`${svc.url}/openai/ps`)).json()) as any[]).find((m) => m.alias === 'tales');
  t.match(ps, { state: 'loaded', fused: false, variant: 'default', onnxFile: 'onnx/model.onnx' });
});

t.test('a folder with several .onnx variants loads the best for the CPU; crucible.json or --variant pins one', async (t) => {
  const svc = await startTestService(t, ['--fuse', '0']);
  const dir = join(svc.config.modelsDir, 'tales-variants');
  // The onnx-community layout: config.json, tokenizer, onnx/model.onnx, onnx/model_q4.onnx, onnx/model_fp16.onnx.
  cpSync(STORIES, dir, { recursive: true });
  rmSync(join(dir, 'genai_config.json'));
  writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ id: 'tales-variants:1' }));
  const scratch = join(svc.home, 'scratch');
  mkdirSync(scratch);
  writeGenaiModel(STORIES, join(scratch, 'q4'), { int4: { blockSize: 32, accuracyLevel: 0, zeroPoints: true, lmHead: true }, ioType: 'float32', manifest: { id: 'q4' } });
  writeGenaiModel(STORIES, join(scratch, 'fp16'), { int4: null, ioType: 'float16', externalData: true, manifest: { id: 'fp16' } });
  copyFileSync(join(scratch, 'q4', 'onnx', 'model.onnx'), join(dir, 'onnx', 'model_q4.onnx'));
  copyFileSync(join(scratch, 'fp16', 'onnx', 'model.onnx'), join(dir, 'onnx', 'model_fp16.onnx'));
  copyFileSync(join(scratch, 'fp16', 'onnx', 'model.onnx.data'), join(dir, 'onnx', 'model.onnx.data'));

  const variantOf = async () => ((await (await fetch(`${svc.url}/openai/ps`)).json()) as any[]).find((m) => m.id === 'tales-variants:1');
  const text = async () => ((await (await post(svc.url, storyRequest({ model: 'tales-variants' }))).json()) as any).choices[0].message.content as string;
  t.equal(await text(), GREEDY.slice(0, (await text()).length), 'the default answers with the reference text');
  t.match(await variantOf(), { variant: 'fp32', onnxFile: 'onnx/model.onnx' }, 'full precision first on the CPU');

  t.equal((await fetch(`${svc.url}/openai/load/tales-variants?variant=q4`)).status, 200);
  t.match(await variantOf(), { state: 'loaded', variant: 'q4', onnxFile: 'onnx/model_q4.onnx' });
  t.match(await text(), /Lily|girl/, 'the int4 variant tells the story too');

  t.equal((await fetch(`${svc.url}/openai/load/tales-variants?variant=fp16`)).status, 200);
  t.match(await variantOf(), { variant: 'fp16', onnxFile: 'onnx/model_fp16.onnx' });
  t.equal(await text(), GREEDY.slice(0, (await text()).length), 'float16 caches and logits, external weights');

  const bad = await fetch(`${svc.url}/openai/load/tales-variants?variant=q8`);
  t.equal(bad.status, 400);
  t.match(await bad.json(), { error: { param: 'variant', message: /has fp32, q4, fp16|has .*q4/ } });

  // crucible.json pins a variant for every load that does not ask for one.
  await fetch(`${svc.url}/openai/unload/tales-variants`);
  writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ id: 'tales-variants:1', variant: 'q4' }));
  t.equal((await post(svc.url, storyRequest({ model: 'tales-variants' }))).status, 200);
  t.match(await variantOf(), { variant: 'q4' });
});

t.test('a folder without a chat template uses Foundry\'s inference_model.json prompt template', async (t) => {
  const svc = await startTestService(t);
  const dir = join(svc.config.modelsDir, 'tales-foundry');
  cpSync(STORIES, dir, { recursive: true });
  writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ id: 'tales-foundry:1' }));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' }));
  writeFileSync(join(dir, 'inference_model.json'), JSON.stringify({
    Name: 'tales-foundry', PromptTemplate: { system: 'Note: {Content}\n', user: '{Content}\n', assistant: '{Content}\n', prompt: 'Once upon a time, {Content}' },
  }));
  const count = async (messages: unknown[]) => ((await (await fetch(`${svc.url}/v1/chat/completions/tokenizer/encode/count`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tales-foundry', messages }),
  })).json()) as any).tokenCount as number;
  const plain = async (messages: unknown[]) => ((await (await fetch(`${svc.url}/v1/chat/completions/tokenizer/encode/count`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'stories260k', messages }),
  })).json()) as any).tokenCount as number;
  // The prompt pattern wraps the last user message: the same tokens as writing it out by hand.
  t.equal(await count([{ role: 'user', content: 'there was a cat' }]), await plain([{ role: 'user', content: 'Once upon a time, there was a cat' }]));
  const res = await (await post(svc.url, storyRequest({ model: 'tales-foundry', messages: [{ role: 'user', content: 'there was a little' }], max_tokens: 8 }))).json() as any;
  t.match(res.choices[0].message.content, /\w/, `answers: ${res.choices[0].message.content}`);
});

t.test('a text completion skips the chat template; a chat completion goes through it', async (t) => {
  const svc = await startTestService(t);
  const dir = join(svc.config.modelsDir, 'tales-chat');
  cpSync(STORIES, dir, { recursive: true });
  writeFileSync(join(dir, 'crucible.json'), JSON.stringify({ id: 'tales-chat:1' }));
  const cfg = JSON.parse(readFileSync(join(STORIES, 'tokenizer_config.json'), 'utf8'));
  cfg.chat_template = "{% for m in messages %}Question: {{ m['content'] }}\n{% endfor %}Answer:";
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
  const completion = await (await fetch(`${svc.url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tales-chat', prompt: 'Once upon a time', max_tokens: 12, temperature: 0 }),
  })).json() as any;
  t.equal(completion.usage.prompt_tokens, 5, 'BOS + the four tokens of the text, nothing else');
  t.equal(completion.choices[0].text, GREEDY.slice(0, completion.choices[0].text.length), 'the base model continues the raw text');
  const chat = await (await post(svc.url, storyRequest({ model: 'tales-chat', max_tokens: 2 }))).json() as any;
  t.ok(chat.usage.prompt_tokens > 5, `the chat template wraps the message (${chat.usage.prompt_tokens} tokens)`);
});
