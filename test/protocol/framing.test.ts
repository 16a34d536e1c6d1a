import t from 'tap';
import { encodeFrame, encodeMessagePack, FrameReader, MAX_FRAME_BYTES } from '../../protocol/framing.js';


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

t.test('integers are MessagePack integers up to 2^64, never floats; ids round-trip exactly', async (t) => {
  const cases: [number, string][] = [
    [0, '00'], [127, '7f'], [128, 'cc80'], [65535, 'cdffff'], [2 ** 32 - 1, 'ceffffffff'],
    [2 ** 32, 'cf0000000100000000'], [2 ** 53 - 1, 'cf001fffffffffffff'], [-1, 'ff'], [-33, 'd0df'],
    [-(2 ** 31) - 1, 'd3ffffffff7fffffff'], [1.5, 'cb3ff8000000000000'],
  ];
  for (const [n, hex] of cases) t.equal(encodeMessagePack(n).toString('hex'), hex, `${n}`);
  for (const id of [0, 2 ** 32, 2 ** 53 - 1]) {
    const [f] = new FrameReader().push(encodeFrame({ id, type: 'result', body: null }));
    t.same(f, { ok: true, value: { id, type: 'result', body: null } }, `id ${id} decodes as the same integer`);
  }
});

t.test('values encode as JSON sees them: undefined members left out, toJSON honoured, bytes as bin', async (t) => {
  t.equal(encodeMessagePack({ a: undefined, b: 1 }).toString('hex'), '81a16201');
  t.equal(encodeMessagePack([undefined]).toString('hex'), '91c0');
  t.equal(encodeMessagePack(new Date(0)).toString('hex'), encodeMessagePack('1970-01-01T00:00:00.000Z').toString('hex'));
  t.equal(encodeMessagePack(Buffer.from([1, 2])).toString('hex'), 'c4020102');
  const big = { text: 'ü☃'.repeat(40_000), list: Array.from({ length: 70_000 }, (_, i) => i) };
  const [f] = new FrameReader().push(encodeFrame(big));
  t.same(f, { ok: true, value: big }, 'str32, array32 and a growing buffer round-trip');
});

t.test('strings of every length and plane encode as UTF-8, lone surrogates as U+FFFD', async (t) => {
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const units = [0x41, 0x7f, 0xe9, 0x7ff, 0x2603, 0xffff, 0xd83d, 0xde00, 0xdc00];
  let bad = 0;
  for (let i = 0; i < 3000; i++) {
    const s = String.fromCharCode(...Array.from({ length: rand(300) }, () => units[rand(units.length)]));
    const [f] = new FrameReader().push(encodeFrame({ s, list: [s, s] }));
    const want = Buffer.from(s).toString();
    if (!f.ok || JSON.stringify(f.value) !== JSON.stringify({ s: want, list: [want, want] })) bad++;
  }
  t.equal(bad, 0);
});
