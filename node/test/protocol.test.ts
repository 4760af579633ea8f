// Codec tests against the hex examples of docs/PROTOCOL.md section 4.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { at } from '../src/arrays.js';
import {
  decodeCancelOk,
  decodeEmbedOk,
  decodeError,
  decodeHealthOk,
  decodeHelloOk,
  decodeRerankOk,
  decodeStatsOk,
  decodeTokenCount,
  decodeTokenizeOk,
  encodeCancel,
  encodeEmbed,
  encodeHello,
  encodeMessage,
  encodeRerank,
  encodeTokenize,
  MessageDecoder,
  MsgType,
  ProtocolError,
  rerankBodyOverhead,
} from '../src/protocol.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const frame = (type: number, id: number, body: Buffer) => Buffer.concat(encodeMessage(type, id, body, 65536));
const decodeOne = (bytes: Buffer) => {
  const msgs = new MessageDecoder().push(bytes);
  assert.equal(msgs.length, 1);
  const [m] = msgs;
  assert.ok(m);
  return m;
};

test('HELLO encodes as in the spec', () => {
  assert.deepEqual(
    frame(MsgType.HELLO, 1, encodeHello('node')),
    hex('0c 00 00 00 01 00 00 00 01 00 00 00 01 00 01 00 04 00 00 00 6e 6f 64 65'),
  );
});

test('HELLO_OK decodes as in the spec', () => {
  const m = decodeOne(
    hex(`3f 00 00 00 81 00 00 00 01 00 00 00 01 00 0d 00
    00 00 67 67 65 6d 62 65 64 20 30 2e 31 2e 30 04
    00 00 00 62 65 72 74 04 00 00 00 74 69 6e 79 08
    00 00 00 40 00 00 00 00 01 00 00 00 00 01 00 00
    00 40 00 40 00 00 00 01 01 01 00`),
  );
  assert.equal(m.type, MsgType.HELLO_OK);
  assert.equal(m.id, 1);
  assert.deepEqual(decodeHelloOk(m.body), {
    version: 1,
    server: 'ggembed 0.1.0',
    arch: 'bert',
    name: 'tiny',
    dims: 8,
    context: 64,
    maxTexts: 256,
    maxFrame: 65536,
    maxMessage: 4194304,
    maxQueue: 64,
    pooling: 1,
    normalize: true,
    hasWeights: true,
  });
});

test('EMBED encodes as in the spec', () => {
  const body = encodeEmbed({ deadlineMs: 5000, texts: ['hi', 'ok'] });
  assert.deepEqual(
    frame(MsgType.EMBED, 2, body),
    hex(`20 00 00 00 02 00 00 00 02 00 00 00 88 13 00 00
    ff ff 01 00 00 00 00 00 00 00 00 00 02 00 00 00 02 00 00 00 68 69 02 00 00 00 6f 6b`),
  );
});

test('EMBED_OK f32 and f16 decode as in the spec', () => {
  const m = decodeOne(
    hex(`2c 00 00 00 82 00 00 00 02 00 00 00 02 00 00 00
    02 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00
    03 00 00 00 00 00 00 00 9a 99 19 3f cd cc 4c 3f 00 00 80 3f 00 00 00 00`),
  );
  const r = decodeEmbedOk(m.body);
  assert.equal(r.n, 2);
  assert.equal(r.dims, 2);
  assert.deepEqual(r.tokens, [3, 3]);
  assert.deepEqual(r.truncated, [false, false]);
  const [v0, v1] = r.vectors;
  assert.ok(v0 && v1);
  assert.deepEqual([...v0], [Math.fround(0.6), Math.fround(0.8)]);
  assert.deepEqual([...v1], [1, 0]);
  const h = decodeEmbedOk(
    decodeOne(
      hex(`18 00 00 00 82 00 00 00 02 00 00 00 01 00 00 00
    02 00 00 00 01 00 00 00 03 00 00 00 01 00 00 00 cd 38 66 3a`),
    ).body,
  );
  assert.equal(h.format, 1);
  assert.deepEqual(h.truncated, [true]);
  const [hv] = h.vectors;
  assert.ok(hv);
  assert.ok(Math.abs(at(hv, 0) - 0.6) < 1e-3 && Math.abs(at(hv, 1) - 0.8) < 1e-3);
  assert.equal(hv[0], 0.60009765625); // 0x38cd exactly
});

test('TOKENIZE, HEALTH, STATS, CANCEL, SHUTDOWN, ERROR as in the spec', () => {
  assert.deepEqual(
    frame(MsgType.TOKENIZE, 3, encodeTokenize('hi', true)),
    hex('0a 00 00 00 03 00 00 00 03 00 00 00 01 00 00 00 02 00 00 00 68 69'),
  );
  assert.deepEqual(
    decodeTokenizeOk(decodeOne(hex('10 00 00 00 83 00 00 00 03 00 00 00 03 00 00 00 65 00 00 00 d0 1d 00 00 66 00 00 00')).body),
    [101, 7632, 102],
  );
  // the count alone, the body checked as for the ids: a body cut short or with bytes over is refused
  const tokBody = decodeOne(hex('10 00 00 00 83 00 00 00 03 00 00 00 03 00 00 00 65 00 00 00 d0 1d 00 00 66 00 00 00')).body;
  assert.equal(decodeTokenCount(tokBody), 3);
  assert.throws(() => decodeTokenCount(tokBody.subarray(0, tokBody.length - 1)), /too short/);
  assert.throws(() => decodeTokenCount(Buffer.concat([tokBody, Buffer.alloc(4)])));
  // a long text's request is its UTF-8 and 8 bytes, not 3 bytes a character
  const long = 'é'.repeat(100_000);
  const body = encodeTokenize(long, false);
  assert.equal(body.length, 8 + Buffer.byteLength(long));
  assert.equal(body.buffer.byteLength < 3 * long.length, true);
  assert.deepEqual(frame(MsgType.HEALTH, 4, Buffer.alloc(0)), hex('00 00 00 00 04 00 00 00 04 00 00 00'));
  assert.deepEqual(
    decodeHealthOk(
      decodeOne(
        hex(`14 00 00 00 84 00 00 00 04 00 00 00 00 00 00 00
    01 00 00 00 02 00 00 00 48 ee 00 00 00 00 00 00`),
      ).body,
    ),
    { state: 0, queue: 1, connections: 2, uptimeMs: 61000 },
  );
  assert.deepEqual(frame(MsgType.STATS, 5, Buffer.alloc(0)), hex('00 00 00 00 05 00 00 00 05 00 00 00'));
  assert.deepEqual(
    decodeStatsOk(
      decodeOne(
        hex(`2c 00 00 00 85 00 00 00 05 00 00 00 02 00 00 00
    08 00 00 00 72 65 71 75 65 73 74 73 2a 00 00 00 00 00 00 00 08 00 00 00 72 73 73 5f 61 6e 6f 6e
    00 00 a0 00 00 00 00 00`),
      ).body,
    ),
    { requests: 42, rss_anon: 10485760 },
  );
  assert.deepEqual(frame(MsgType.CANCEL, 6, encodeCancel(2)), hex('04 00 00 00 06 00 00 00 06 00 00 00 02 00 00 00'));
  assert.equal(decodeCancelOk(decodeOne(hex('04 00 00 00 86 00 00 00 06 00 00 00 01 00 00 00')).body), true);
  assert.deepEqual(frame(MsgType.SHUTDOWN, 7, Buffer.alloc(0)), hex('00 00 00 00 07 00 00 00 07 00 00 00'));
  const e = decodeOne(hex('12 00 00 00 ff 00 00 00 02 00 00 00 08 00 00 00 0a 00 00 00 71 75 65 75 65 20 66 75 6c 6c'));
  assert.equal(e.type, MsgType.ERROR);
  assert.deepEqual(decodeError(e.body), { code: 8, name: 'BUSY', message: 'queue full' });
  assert.equal(decodeError(Buffer.from([99, 0, 0, 0, 0, 0, 0, 0])).name, 'INTERNAL');
});

test('RERANK encodes and RERANK_OK decodes as in the spec', () => {
  const req = encodeRerank({ truncate: true, query: 'q', documents: ['a', 'bc'] });
  assert.deepEqual(
    frame(MsgType.RERANK, 10, req),
    hex(`1c 00 00 00 08 00 00 00 0a 00 00 00 00 00 00 00
         01 00 00 00 01 00 00 00 71 02 00 00 00 01 00 00
         00 61 02 00 00 00 62 63`),
  );
  // the overhead is the body without its documents
  assert.equal(rerankBodyOverhead(1), req.length - (4 + 1) - (4 + 2));
  const m = decodeOne(
    hex(`1c 00 00 00 88 00 00 00 0a 00 00 00 02 00 00 00
         05 00 00 00 00 00 00 00 06 00 00 00 01 00 00 00
         00 00 00 3f 00 00 a0 bf`),
  );
  assert.equal(m.type, MsgType.RERANK_OK);
  assert.deepEqual(decodeRerankOk(m.body), { n: 2, tokens: [5, 6], truncated: [false, true], scores: [0.5, -1.25] });
  // sizes that do not match n are a protocol error, not a short array
  assert.throws(() => decodeRerankOk(m.body.subarray(0, m.body.length - 4)), ProtocolError);
  assert.throws(() => decodeRerankOk(Buffer.concat([m.body, Buffer.alloc(4)])), ProtocolError);
  const noTruncate = encodeRerank({ truncate: false, deadlineMs: 7, query: 'q', documents: [] });
  assert.equal(noTruncate.readUInt32LE(0), 7);
  assert.equal(noTruncate.readUInt8(4), 0);
  assert.equal(noTruncate.readUInt32LE(noTruncate.length - 4), 0);
});

test('a message split across frames: encoder matches the spec, decoder reassembles byte by byte', () => {
  const wire = hex(`0a 00 00 00 02 01 00 00 09 00 00 00 00 00 00 00 ff ff 01 00 00 00
    11 00 00 00 02 00 00 00 09 00 00 00 00 00 00 00 00 00 01 00 00 00 03 00 00 00 61 62 63`);
  const body = encodeEmbed({ texts: ['abc'] });
  const mine = encodeMessage(MsgType.EMBED, 9, body, 12 + 10);
  assert.deepEqual(mine[0], wire.subarray(0, 22)); // same first frame, MORE set
  assert.equal(mine.at(-1)?.[5], 0); // the last frame ends the message
  assert.ok(mine.slice(0, -1).every((f) => f[5] === 1));
  const d = new MessageDecoder();
  const got = [];
  for (const b of wire) got.push(...d.push(Buffer.from([b])));
  assert.equal(got.length, 1);
  const [g] = got;
  assert.ok(g);
  assert.equal(g.id, 9);
  assert.deepEqual(g.body, body);
});

test('a large message round-trips through 4096-byte frames; several messages in one chunk', () => {
  const texts = Array.from({ length: 500 }, (_, i) => `text number ${i} ${'x'.repeat(i % 37)}`);
  const body = encodeEmbed({ texts, prefix: 'p: ' });
  const frames = encodeMessage(MsgType.EMBED, 77, body, 4096);
  assert.ok(frames.length > 1);
  for (const f of frames) assert.ok(f.length <= 4096);
  const all = Buffer.concat([...frames, ...encodeMessage(MsgType.HEALTH, 78, Buffer.alloc(0), 4096)]);
  const msgs = new MessageDecoder().push(all);
  assert.equal(msgs.length, 2);
  const [first, second] = msgs;
  assert.ok(first && second);
  assert.deepEqual(first.body, body);
  assert.equal(second.id, 78);
});

test('malformed input is refused', () => {
  assert.throws(() => new MessageDecoder().push(hex('00 00 00 00 04 02 00 00 01 00 00 00')), ProtocolError); // flag bit 1
  assert.throws(() => new MessageDecoder().push(hex('00 00 00 00 04 00 01 00 01 00 00 00')), ProtocolError); // reserved
  assert.throws(() => new MessageDecoder(4096).push(hex('f5 0f 00 00 82 00 00 00 01 00 00 00')), ProtocolError); // over max frame
  assert.throws(() => decodeHealthOk(Buffer.alloc(19)), ProtocolError); // short
  assert.throws(() => decodeCancelOk(Buffer.alloc(5)), ProtocolError); // trailing
  const d = new MessageDecoder();
  d.push(Buffer.concat(encodeMessage(MsgType.EMBED, 1, Buffer.alloc(100), 60)).subarray(0, 60)); // first frame, MORE
  assert.throws(() => d.push(Buffer.concat(encodeMessage(MsgType.EMBED, 2, Buffer.alloc(4), 60))), ProtocolError); // interleaved
});
