// protocol.ts - encoder and decoder for the ggembed IPC protocol, version 1
// (docs/PROTOCOL.md): frames, message assembly, request and answer bodies.

import { at } from './arrays.js';

export const HEADER_SIZE = 12;
export const FLAG_MORE = 1;
export const PRE_HELLO_MAX_FRAME = 4096;
export const PROTOCOL_VERSION = 1;

export const MsgType = {
  HELLO: 0x01,
  EMBED: 0x02,
  TOKENIZE: 0x03,
  HEALTH: 0x04,
  STATS: 0x05,
  CANCEL: 0x06,
  SHUTDOWN: 0x07,
  RERANK: 0x08,
  HELLO_OK: 0x81,
  EMBED_OK: 0x82,
  TOKENIZE_OK: 0x83,
  HEALTH_OK: 0x84,
  STATS_OK: 0x85,
  CANCEL_OK: 0x86,
  SHUTDOWN_OK: 0x87,
  RERANK_OK: 0x88,
  ERROR: 0xff,
} as const;

export const ErrorCode = {
  MALFORMED: 1,
  TOO_LARGE: 2,
  UNKNOWN_TYPE: 3,
  BAD_REQUEST: 4,
  BAD_UTF8: 5,
  NO_HELLO: 6,
  VERSION: 7,
  BUSY: 8,
  TIMEOUT: 9,
  CANCELLED: 10,
  TOO_LONG: 11,
  INVALID: 12,
  SHUTTING_DOWN: 13,
  NO_WEIGHTS: 14,
  INTERNAL: 15,
  MODEL_CHANGED: 16,
} as const;

/** The server's error names (docs/PROTOCOL.md). */
export type ServerErrorName = keyof typeof ErrorCode;

const ERROR_NAMES = new Map<number, ServerErrorName>(Object.entries(ErrorCode).map(([k, v]) => [v, k as ServerErrorName]));

/** The protocol name of an error code; unknown codes are INTERNAL. */
export function errorName(code: number): ServerErrorName {
  return ERROR_NAMES.get(code) ?? 'INTERNAL';
}

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** One assembled message: type, id and the concatenated payload. */
export interface Message {
  type: number;
  id: number;
  body: Buffer;
}

// ---------------------------------------------------------------- writing

/** Growable little-endian byte writer. */
export class Writer {
  private buf: Buffer;
  private pos = 0;
  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }
  private need(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }
  u8(v: number): this {
    this.need(1);
    this.buf.writeUInt8(v, this.pos);
    this.pos += 1;
    return this;
  }
  i8(v: number): this {
    this.need(1);
    this.buf.writeInt8(v, this.pos);
    this.pos += 1;
    return this;
  }
  u16(v: number): this {
    this.need(2);
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 2;
    return this;
  }
  u32(v: number): this {
    this.need(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }
  i32(v: number): this {
    this.need(4);
    this.buf.writeInt32LE(v, this.pos);
    this.pos += 4;
    return this;
  }
  u64(v: number | bigint): this {
    this.need(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.pos);
    this.pos += 8;
    return this;
  }
  f32(v: number): this {
    this.need(4);
    this.buf.writeFloatLE(v, this.pos);
    this.pos += 4;
    return this;
  }
  pad(k: number): this {
    this.need(k);
    this.buf.fill(0, this.pos, this.pos + k);
    this.pos += k;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.need(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  str(s: string | Uint8Array): this {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    this.u32(b.length);
    return this.bytes(b);
  }
  get length(): number {
    return this.pos;
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * Splits one message into frames of at most maxFrame bytes (header included).
 * An empty body gives one empty frame.
 */
export function encodeMessage(type: number, id: number, body: Uint8Array, maxFrame: number): Buffer[] {
  const chunk = maxFrame - HEADER_SIZE;
  if (chunk <= 0) throw new RangeError('maxFrame too small');
  const frames: Buffer[] = [];
  let off = 0;
  do {
    const n = Math.min(chunk, body.length - off);
    const more = off + n < body.length;
    const f = Buffer.allocUnsafe(HEADER_SIZE + n);
    f.writeUInt32LE(n, 0);
    f.writeUInt8(type, 4);
    f.writeUInt8(more ? FLAG_MORE : 0, 5);
    f.writeUInt16LE(0, 6);
    f.writeUInt32LE(id >>> 0, 8);
    f.set(body.subarray(off, off + n), HEADER_SIZE);
    frames.push(f);
    off += n;
  } while (off < body.length);
  return frames;
}

// ---------------------------------------------------------------- reading

/** Bounds-checked little-endian reader over one message body. */
export class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  private take(n: number): number {
    if (this.pos + n > this.buf.length) throw new ProtocolError(`body too short (need ${n} bytes at ${this.pos} of ${this.buf.length})`);
    const p = this.pos;
    this.pos += n;
    return p;
  }
  u8(): number {
    return this.buf.readUInt8(this.take(1));
  }
  i8(): number {
    return this.buf.readInt8(this.take(1));
  }
  u16(): number {
    return this.buf.readUInt16LE(this.take(2));
  }
  u32(): number {
    return this.buf.readUInt32LE(this.take(4));
  }
  i32(): number {
    return this.buf.readInt32LE(this.take(4));
  }
  u64(): number {
    const v = this.buf.readBigUInt64LE(this.take(8));
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : Number(v);
  }
  skip(k: number): void {
    this.take(k);
  }
  raw(n: number): Buffer {
    const p = this.take(n);
    return this.buf.subarray(p, p + n);
  }
  str(): string {
    const n = this.u32();
    return this.raw(n).toString('utf8');
  }
  end(): void {
    if (this.pos !== this.buf.length) throw new ProtocolError(`trailing bytes in body (${this.buf.length - this.pos})`);
  }
}

/**
 * Incremental frame parser and message assembler for one direction of a
 * stream. push() bytes as they arrive; it returns the completed messages.
 */
export class MessageDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private partial: { type: number; id: number; parts: Buffer[]; size: number } | null = null;
  constructor(public maxFrame = 1 << 30) {}

  push(data: Buffer): Message[] {
    this.chunks.push(data);
    this.buffered += data.length;
    const out: Message[] = [];
    for (;;) {
      if (this.buffered < HEADER_SIZE) break;
      const head = this.peek(HEADER_SIZE);
      const length = head.readUInt32LE(0);
      const type = head.readUInt8(4);
      const flags = head.readUInt8(5);
      const reserved = head.readUInt16LE(6);
      const id = head.readUInt32LE(8);
      if ((flags & ~FLAG_MORE) !== 0 || reserved !== 0) throw new ProtocolError('malformed frame header (reserved bits set)');
      if (HEADER_SIZE + length > this.maxFrame)
        throw new ProtocolError(`frame of ${HEADER_SIZE + length} bytes over the max frame ${this.maxFrame}`);
      if (this.buffered < HEADER_SIZE + length) break;
      const frame = this.consume(HEADER_SIZE + length);
      const payload = frame.subarray(HEADER_SIZE);
      if (this.partial && (this.partial.type !== type || this.partial.id !== id)) {
        throw new ProtocolError('frames of two messages interleaved');
      }
      if (!this.partial) this.partial = { type, id, parts: [], size: 0 };
      this.partial.parts.push(payload);
      this.partial.size += payload.length;
      if (!(flags & FLAG_MORE)) {
        const p = this.partial;
        this.partial = null;
        out.push({ type: p.type, id: p.id, body: p.parts.length === 1 ? at(p.parts, 0) : Buffer.concat(p.parts, p.size) });
      }
    }
    return out;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= n) return first.subarray(0, n);
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
    return all.subarray(0, n);
  }

  private consume(n: number): Buffer {
    let first = this.chunks[0];
    if (!first || first.length < n) {
      first = Buffer.concat(this.chunks, this.buffered);
      this.chunks = [first];
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

// ---------------------------------------------------------------- bodies

export interface HelloOk {
  version: number;
  server: string;
  arch: string;
  name: string;
  dims: number;
  context: number;
  maxTexts: number;
  maxFrame: number;
  maxMessage: number;
  maxQueue: number;
  pooling: number;
  normalize: boolean;
  hasWeights: boolean;
}

export function encodeHello(client: string, minVersion = PROTOCOL_VERSION, maxVersion = PROTOCOL_VERSION): Buffer {
  return new Writer(32).u16(minVersion).u16(maxVersion).str(client).finish();
}

export function decodeHelloOk(body: Buffer): HelloOk {
  const r = new Reader(body);
  const h: HelloOk = {
    version: r.u16(),
    server: r.str(),
    arch: r.str(),
    name: r.str(),
    dims: r.u32(),
    context: r.u32(),
    maxTexts: r.u32(),
    maxFrame: r.u32(),
    maxMessage: r.u32(),
    maxQueue: r.u32(),
    pooling: r.i8(),
    normalize: r.u8() !== 0,
    hasWeights: r.u8() !== 0,
  };
  r.skip(1);
  r.end();
  return h;
}

/** HELLO_OK pooling of a reranker: it answers RERANK. */
export const POOLING_RANK = 4;

export interface EmbedRequest {
  deadlineMs?: number;
  pooling?: number; // -1 default, 1 mean, 2 cls, 3 last
  normalize?: number; // -1 default, 0, 1
  truncate?: boolean;
  format?: 0 | 1;
  dims?: number;
  prefix?: string;
  texts: (string | Buffer)[];
}

/** Bytes of an EMBED body without texts (fixed fields and prefix and n). */
export function embedBodyOverhead(prefixBytes: number): number {
  return 4 + 1 + 1 + 1 + 1 + 4 + 4 + prefixBytes + 4;
}

export function encodeEmbed(req: EmbedRequest): Buffer {
  const w = new Writer(64);
  w.u32(req.deadlineMs ?? 0)
    .i8(req.pooling ?? -1)
    .i8(req.normalize ?? -1)
    .u8(req.truncate === false ? 0 : 1)
    .u8(req.format ?? 0)
    .u32(req.dims ?? 0)
    .str(req.prefix ?? '')
    .u32(req.texts.length);
  for (const t of req.texts) w.str(t);
  return w.finish();
}

export interface EmbedOk {
  n: number;
  dims: number;
  format: number;
  tokens: number[];
  truncated: boolean[];
  vectors: Float32Array[];
}

/** IEEE binary16 to number. */
export function f16ToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function decodeEmbedOk(body: Buffer): EmbedOk {
  const r = new Reader(body);
  const n = r.u32();
  const dims = r.u32();
  const format = r.u8();
  r.skip(3);
  if (format > 1) throw new ProtocolError(`unknown vector format ${format}`);
  const tokens: number[] = new Array(n);
  const truncated: boolean[] = new Array(n);
  for (let i = 0; i < n; i++) {
    tokens[i] = r.u32();
    truncated[i] = (r.u32() & 1) !== 0;
  }
  const esize = format === 0 ? 4 : 2;
  const raw = r.raw(n * dims * esize);
  r.end();
  const vectors: Float32Array[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = new Float32Array(dims);
    const base = i * dims * esize;
    if (format === 0) {
      for (let j = 0; j < dims; j++) v[j] = raw.readFloatLE(base + 4 * j);
    } else {
      for (let j = 0; j < dims; j++) v[j] = f16ToNumber(raw.readUInt16LE(base + 2 * j));
    }
    vectors[i] = v;
  }
  return { n, dims, format, tokens, truncated, vectors };
}

export interface RerankRequest {
  deadlineMs?: number;
  truncate?: boolean;
  query: string | Buffer;
  documents: (string | Buffer)[];
}

/** Bytes of a RERANK body without documents (fixed fields, query and n). */
export function rerankBodyOverhead(queryBytes: number): number {
  return 4 + 1 + 3 + 4 + queryBytes + 4;
}

export function encodeRerank(req: RerankRequest): Buffer {
  const w = new Writer(64);
  w.u32(req.deadlineMs ?? 0)
    .u8(req.truncate === false ? 0 : 1)
    .pad(3)
    .str(req.query)
    .u32(req.documents.length);
  for (const d of req.documents) w.str(d);
  return w.finish();
}

export interface RerankOk {
  n: number;
  tokens: number[];
  truncated: boolean[];
  scores: number[];
}

export function decodeRerankOk(body: Buffer): RerankOk {
  const r = new Reader(body);
  const n = r.u32();
  if (body.length !== 4 + 12 * n) throw new ProtocolError(`RERANK_OK of ${body.length} bytes does not hold ${n} scores`);
  const tokens: number[] = new Array(n);
  const truncated: boolean[] = new Array(n);
  for (let i = 0; i < n; i++) {
    tokens[i] = r.u32();
    truncated[i] = (r.u32() & 1) !== 0;
  }
  const scores: number[] = new Array(n);
  for (let i = 0; i < n; i++) scores[i] = r.buf.readFloatLE(r.pos + 4 * i);
  r.skip(4 * n);
  r.end();
  return { n, tokens, truncated, scores };
}

export function encodeTokenize(text: string, addSpecial: boolean): Buffer {
  // sized exactly: a chunker asks the count of whole files' texts, and 3 bytes a character was 3 x the text
  const utf8 = Buffer.from(text, 'utf8');
  return new Writer(8 + utf8.length)
    .u8(addSpecial ? 1 : 0)
    .pad(3)
    .str(utf8)
    .finish();
}

export function decodeTokenizeOk(body: Buffer): number[] {
  const r = new Reader(body);
  const n = r.u32();
  const ids: number[] = new Array(n);
  for (let i = 0; i < n; i++) ids[i] = r.i32();
  r.end();
  return ids;
}

/** The number of ids of a TOKENIZE_OK, the body checked as decodeTokenizeOk checks it, without making the ids (8 bytes each in a JS array). */
export function decodeTokenCount(body: Buffer): number {
  const r = new Reader(body);
  const n = r.u32();
  r.skip(4 * n);
  r.end();
  return n;
}

export interface HealthOk {
  state: number; // 0 ready, 1 shutting down
  queue: number;
  connections: number;
  uptimeMs: number;
}

export function decodeHealthOk(body: Buffer): HealthOk {
  const r = new Reader(body);
  const state = r.u8();
  r.skip(3);
  const h = { state, queue: r.u32(), connections: r.u32(), uptimeMs: r.u64() };
  r.end();
  return h;
}

export function decodeStatsOk(body: Buffer): Record<string, number> {
  const r = new Reader(body);
  const n = r.u32();
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const name = r.str();
    out[name] = r.u64();
  }
  r.end();
  return out;
}

export function encodeCancel(target: number): Buffer {
  return new Writer(4).u32(target).finish();
}

export function decodeCancelOk(body: Buffer): boolean {
  const r = new Reader(body);
  const found = r.u8();
  r.skip(3);
  r.end();
  return found === 1;
}

export interface ErrorBody {
  code: number;
  name: ServerErrorName;
  message: string;
}

export function decodeError(body: Buffer): ErrorBody {
  const r = new Reader(body);
  const code = r.u16();
  r.skip(2);
  const message = r.str();
  r.end();
  return { code, name: errorName(code), message };
}
