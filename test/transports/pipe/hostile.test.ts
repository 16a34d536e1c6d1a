import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';
import { PipeClient } from '../../../clients/typescript/pipe-client.js';
import { RawPipe } from '../../helpers/pipe.js';
import { startTestService, storyRequest } from '../../helpers/service.js';

const pack = (v: unknown) => {
  const body = new Packr({ useRecords: false }).pack(v);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
};

interface Case {
  name: string;
  bytes: () => Buffer;
  /** An error frame with this code, or a closed connection. */
  expect: { code: string } | 'closed' | 'error-or-closed';
}

const CASES: Case[] = [
  { name: 'a length prefix over 16 MiB', bytes: () => Buffer.from([0x01, 0x00, 0x00, 0x01]), expect: 'closed' },
  { name: 'a length prefix of 4 GiB', bytes: () => Buffer.from([0xff, 0xff, 0xff, 0xff]), expect: 'closed' },
  { name: 'bytes that are not MessagePack', bytes: () => Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]), expect: { code: 'invalid_request' } },
  { name: 'a frame that is an array', bytes: () => pack([1, 'status', null]), expect: { code: 'invalid_request' } },
  { name: 'a frame that is a string', bytes: () => pack('status'), expect: { code: 'invalid_request' } },
  { name: 'a missing id', bytes: () => pack({ op: 'status' }), expect: { code: 'invalid_request' } },
  { name: 'a negative id', bytes: () => pack({ id: -4, op: 'status' }), expect: { code: 'invalid_request' } },
  { name: 'a string id', bytes: () => pack({ id: '1', op: 'status' }), expect: { code: 'invalid_request' } },
  { name: 'an unknown op', bytes: () => pack({ id: 1, op: 'rm -rf', body: null }), expect: { code: 'invalid_request' } },
  { name: 'an op that is a number', bytes: () => pack({ id: 1, op: 7 }), expect: { code: 'invalid_request' } },
  { name: 'a body that is a list', bytes: () => pack({ id: 1, op: 'chat.completions', body: [1, 2] }), expect: { code: 'invalid_request' } },
  { name: 'chat with no messages', bytes: () => pack({ id: 1, op: 'chat.completions', body: { model: 'stories260k' } }), expect: { code: 'invalid_request' } },
  { name: 'chat with an ill-typed temperature', bytes: () => pack({ id: 1, op: 'chat.completions', body: storyRequest({ temperature: 'hot' }) }), expect: { code: 'invalid_request' } },
  { name: 'chat with a path as model', bytes: () => pack({ id: 1, op: 'chat.completions', body: storyRequest({ model: '../../etc/passwd' }) }), expect: { code: 'invalid_request' } },
  { name: 'chat with a hosted tool', bytes: () => pack({ id: 1, op: 'chat.completions', body: storyRequest({ tools: [{ type: 'web_search' }] }) }), expect: { code: 'unsupported_parameter' } },
  { name: 'completions with a suffix', bytes: () => pack({ id: 1, op: 'completions', body: { model: 'stories260k', prompt: 'x', suffix: 'y' } }), expect: { code: 'unsupported_parameter' } },
  { name: 'completions with no prompt', bytes: () => pack({ id: 1, op: 'completions', body: { model: 'stories260k' } }), expect: { code: 'invalid_request' } },
  { name: 'models.get of an unknown model', bytes: () => pack({ id: 1, op: 'models.get', body: { model: 'ghost:1' } }), expect: { code: 'model_not_found' } },
  { name: 'models.get with no model', bytes: () => pack({ id: 1, op: 'models.get', body: null }), expect: { code: 'invalid_request' } },
  { name: 'load of an unknown model', bytes: () => pack({ id: 1, op: 'models.load', body: { name: 'ghost' } }), expect: { code: 'model_not_found' } },
  { name: 'load with no name', bytes: () => pack({ id: 1, op: 'models.load', body: {} }), expect: { code: 'invalid_request' } },
  { name: 'cancel with no target', bytes: () => pack({ id: 1, op: 'cancel', body: {} }), expect: { code: 'invalid_request' } },
  { name: 'a truncated frame, then close', bytes: () => pack({ id: 1, op: 'status', body: null }).subarray(0, 7), expect: 'error-or-closed' },
];

t.test('hostile input gets an error frame or a closed connection; other connections keep serving', async (t) => {
  const svc = await startTestService(t);
  const control = await PipeClient.connect(svc.pipeName);
  t.teardown(() => control.close());

  for (const c of CASES) {
    const raw = await RawPipe.open(svc.pipeName);
    raw.write(c.bytes());
    if (c.expect === 'error-or-closed') raw.socket.end();
    if (c.expect === 'closed' || c.expect === 'error-or-closed') {
      t.ok(await raw.until(() => raw.closed), `${c.name}: connection closed`);
    } else {
      const code = c.expect.code;
      t.ok(await raw.until((f) => f.some((m) => m.type === 'error')), `${c.name}: an error frame arrives`);
      t.equal(raw.frames.find((m) => m.type === 'error')?.body && (raw.frames.find((m) => m.type === 'error')!.body as { code: string }).code, code, `${c.name}: code ${code}`);
      // The connection survives a well-framed bad request.
      raw.send({ id: 99, op: 'status', body: null });
      t.ok(await raw.until((f) => f.some((m) => m.id === 99 && m.type === 'result')), `${c.name}: same connection still answers`);
    }
    raw.close();
    t.equal((await control.status()).protocolVersion, 1, `${c.name}: the agent keeps serving`);
  }

  // Random garbage, bounded: 50 connections of up to 4 KiB each.
  for (let i = 0; i < 50; i++) {
    const raw = await RawPipe.open(svc.pipeName);
    raw.write(randomBytes(1 + (i * 83) % 4096));
    raw.socket.end();
    await raw.until(() => raw.closed, 2000);
    raw.close();
  }
  const after = await control.chat(storyRequest({ max_tokens: 10 }));
  t.equal(after.choices[0].finish_reason, 'length', 'chat still works after the garbage');
});

t.test('a duplicate id in flight is refused without disturbing the first request', async (t) => {
  const svc = await startTestService(t);
  const raw = await RawPipe.open(svc.pipeName);
  t.teardown(() => raw.close());
  raw.send({ id: 5, op: 'chat.completions', body: storyRequest({ stream: true, max_tokens: 100 }) });
  raw.send({ id: 5, op: 'status', body: null });
  t.ok(await raw.until((f) => f.some((m) => m.id === 5 && m.type === 'result')));
  const errors = raw.frames.filter((m) => m.type === 'error');
  t.equal(errors.length, 1);
  t.equal((errors[0].body as { code: string }).code, 'duplicate_id');
  t.ok(raw.frames.filter((m) => m.type === 'chunk').length > 10, 'the stream completed');
});
