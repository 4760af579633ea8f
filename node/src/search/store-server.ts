// store-server.ts - the LanceDB engine in a process of its own, so that its
// native code (100+ MB RSS once it has touched a table) stays out of the MCP
// server's process, as the embedder does. Run as
//
//   node store-server.js DIR OPTIONS_JSON
//
// It speaks frames over stdin/stdout: a 4-byte little-endian length, then
// that many bytes of JSON. Requests {id, op, args} are answered in order
// by {id, ok: true, result} or {id, ok: false, error: {kind, message}};
// Float32Arrays travel as {"$f32": base64}. Requests are served one at a
// time, in the order they came, so writes happen in the order they were
// made. It exits when stdin closes (its parent is gone) or after `close`.

import { pathToFileURL } from 'node:url';
import { LanceEngine, type StoreEngine, StoreUnavailableError } from './lance.js';

export const MAX_FRAME = 256 << 20;

export type StoreOp = keyof StoreEngine;

export interface StoreRequest {
  id: number;
  op: StoreOp;
  args: unknown[];
}

export type StoreReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: { kind: string; message: string } };

export function encodeFrame(msg: unknown): Buffer {
  const json = Buffer.from(
    JSON.stringify(msg, (_k, v: unknown) =>
      v instanceof Float32Array ? { $f32: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') } : v,
    ),
  );
  const head = Buffer.alloc(4);
  head.writeUInt32LE(json.length);
  return Buffer.concat([head, json]);
}

function revive(_k: string, v: unknown): unknown {
  if (v && typeof v === 'object' && typeof (v as { $f32?: unknown }).$f32 === 'string') {
    const b = Buffer.from((v as { $f32: string }).$f32, 'base64');
    const out = new Float32Array(b.length / 4);
    Buffer.from(out.buffer).set(b);
    return out;
  }
  return v;
}

/** Splits a byte stream into frames; throws on a frame longer than MAX_FRAME (a corrupt stream, not a big request). */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  /** pieces of a frame not complete yet: joined once it is, not at every piece (a write batch is megabytes) */
  private parts: Buffer[] = [];
  private partBytes = 0;
  private want = 0;
  push(data: Buffer): unknown[] {
    if (this.want) {
      this.parts.push(data);
      this.partBytes += data.length;
      if (this.partBytes < this.want) return [];
      this.buf = Buffer.concat([this.buf, ...this.parts]);
      this.parts = [];
      this.partBytes = 0;
      this.want = 0;
    } else {
      this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    }
    const out: unknown[] = [];
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32LE(0);
      if (n > MAX_FRAME) throw new Error(`store frame of ${n} bytes (at most ${MAX_FRAME})`);
      if (this.buf.length < 4 + n) {
        this.want = 4 + n - this.buf.length;
        break;
      }
      out.push(JSON.parse(this.buf.toString('utf8', 4, 4 + n), revive));
      this.buf = this.buf.subarray(4 + n);
    }
    return out;
  }
}

async function main(): Promise<void> {
  const [dir, opts] = process.argv.slice(2);
  if (!dir) {
    process.stderr.write('usage: store-server DIR [OPTIONS_JSON]\n');
    process.exit(2);
  }
  const engineP = LanceEngine.open(dir, opts ? JSON.parse(opts) : {});
  // an open failure is the answer to every request, so the parent learns why
  engineP.catch(() => {});
  const reader = new FrameReader();
  let chain: Promise<void> = Promise.resolve();
  const send = (r: StoreReply) => process.stdout.write(encodeFrame(r));
  const serve = async (req: StoreRequest): Promise<void> => {
    try {
      const engine = await engineP;
      const fn = engine[req.op] as (...a: unknown[]) => Promise<unknown>;
      if (typeof fn !== 'function') throw Object.assign(new Error(`unknown store operation ${String(req.op)}`), { kind: 'protocol' });
      const result = await fn.apply(engine, req.args);
      send({ id: req.id, ok: true, result: result ?? null });
      if (req.op === 'close') process.stdout.end(() => process.exit(0));
    } catch (e) {
      const kind = e instanceof StoreUnavailableError ? 'unavailable' : ((e as { kind?: string }).kind ?? 'engine');
      send({ id: req.id, ok: false, error: { kind, message: (e as Error).message } });
    }
  };
  process.stdin.on('data', (d: Buffer) => {
    let reqs: unknown[];
    try {
      reqs = reader.push(d);
    } catch (e) {
      process.stderr.write(`store server: ${(e as Error).message}\n`);
      process.exit(3);
    }
    for (const r of reqs) chain = chain.then(() => serve(r as StoreRequest));
  });
  process.stdin.on('end', () => {
    void chain.then(async () => {
      await (await engineP.catch(() => null))?.close();
      process.exit(0);
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
