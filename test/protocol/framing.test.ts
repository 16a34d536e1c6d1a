import t from 'tap';
import { encodeFrame, FrameReader, MAX_FRAME_BYTES } from '../../protocol/framing.js';


t.test('frames split at random points reassemble in order', async (t) => {
  const messages = Array.from({ length: 200 }, (_, i) => ({ id: i, op: 'chat.completions', body: { text: 'ü☃'.repeat(i % 17), n: i * 1e6, list: [i, null, true] } }));
  const bytes = Buffer.concat(messages.map((m) => encodeFrame(m)));
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const reader = new FrameReader();
  const out: unknown[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = 1 + Math.floor(rand() * 97);
    for (const f of reader.push(bytes.subarray(i, i + n))) {
      t.ok(f.ok);
      if (f.ok) out.push(f.value);
    }
    i += n;
  }
  t.same(out, messages);
  t.equal(reader.pending, 0);
});

t.test('the wire is plain MessagePack: a map with string keys, no extensions', async (t) => {
  const frame = encodeFrame({ id: 1, op: 'status', body: null });
  t.equal(frame.readUInt32BE(0), frame.length - 4);
  // fixmap of 3 entries, then fixstr "id".
  t.equal(frame[4], 0x83);
  t.equal(frame[5], 0xa2);
  t.equal(frame.subarray(6, 8).toString(), 'id');
});

t.test('a length over the limit is refused before any body is buffered', async (t) => {
  const reader = new FrameReader();
  const head = Buffer.alloc(4);
  head.writeUInt32BE(MAX_FRAME_BYTES + 1);
  t.throws(() => reader.push(head), { name: 'FrameTooLargeError', size: MAX_FRAME_BYTES + 1 });
});

t.test('bytes that are not MessagePack yield a decode error, and the stream stays in sync', async (t) => {
  const reader = new FrameReader();
  const junk = Buffer.from([0, 0, 0, 2, 0xc1, 0xc1]);
  const frames = reader.push(Buffer.concat([junk, encodeFrame({ id: 9 })]));
  t.equal(frames.length, 2);
  t.notOk(frames[0].ok);
  t.same(frames[1], { ok: true, value: { id: 9 } });
});
