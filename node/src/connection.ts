// connection.ts - one protocol connection over a byte stream (Unix socket,
// named pipe or a child's stdio): HELLO, multiplexed requests matched by id.

import { EventEmitter } from 'node:events';
import type { Duplex, Readable, Writable } from 'node:stream';
import { EmbedderError } from './errors.js';
import {
  decodeError,
  decodeHelloOk,
  type ErrorBody,
  encodeHello,
  encodeMessage,
  type HelloOk,
  type Message,
  MessageDecoder,
  MsgType,
  PRE_HELLO_MAX_FRAME,
} from './protocol.js';

interface Pending {
  type: number;
  resolve: (body: Buffer) => void;
  reject: (err: Error) => void;
}

/** Thrown for requests that were in flight when the connection ended. */
export const CONNECTION_LOST = 'CONNECTION_LOST';

export class Connection extends EventEmitter {
  private readonly decoder = new MessageDecoder();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private maxFrame = PRE_HELLO_MAX_FRAME;
  private closed = false;
  private closeReason = 'connection closed';

  constructor(
    input: Readable,
    private readonly output: Writable,
    private readonly onDestroy?: () => void,
  ) {
    super();
    input.on('data', (d: Buffer) => this.onData(d));
    input.on('end', () => this.fail('the embedder closed the connection'));
    input.on('close', () => this.fail('the embedder closed the connection'));
    input.on('error', (e) => this.fail(`connection error: ${e.message}`));
    if (output !== (input as unknown)) output.on('error', (e) => this.fail(`connection error: ${e.message}`));
  }

  static fromDuplex(s: Duplex): Connection {
    return new Connection(s, s, () => s.destroy());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends HELLO and stores the server's limits. */
  async handshake(client: string, timeoutMs: number): Promise<HelloOk> {
    const { promise } = this.send(MsgType.HELLO, encodeHello(client), timeoutMs);
    const body = await promise;
    const hello = decodeHelloOk(body);
    if (hello.version !== 1) throw new EmbedderError('PROTOCOL', `server chose unsupported protocol version ${hello.version}`);
    this.maxFrame = Math.max(PRE_HELLO_MAX_FRAME, hello.maxFrame);
    return hello;
  }

  private allocId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
      if (!this.pending.has(id)) return id;
    }
  }

  /**
   * Sends one request. The promise resolves with the answer's body or
   * rejects with an EmbedderError (the server's error name as code,
   * CONNECTION_LOST, or TIMEOUT when timeoutMs passes without an answer).
   */
  send(type: number, body: Buffer, timeoutMs = 0): { id: number; promise: Promise<Buffer> } {
    const id = this.allocId();
    if (this.closed) {
      return { id, promise: Promise.reject(new EmbedderError(CONNECTION_LOST, this.closeReason)) };
    }
    const promise = new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        this.pending.delete(id);
      };
      this.pending.set(id, {
        type,
        resolve: (b) => {
          done();
          resolve(b);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          const p = this.pending.get(id);
          if (p) p.reject(new EmbedderError('TIMEOUT', `no answer within ${timeoutMs} ms`));
        }, timeoutMs);
        timer.unref?.();
      }
    });
    // the frames of one message are written back to back, never interleaved
    for (const f of encodeMessage(type, id, body, this.maxFrame)) this.output.write(f);
    return { id, promise };
  }

  /** Forgets a request without waiting for its answer (the answer is ignored). */
  forget(id: number): void {
    this.pending.delete(id);
  }

  private onData(d: Buffer): void {
    if (this.closed) return;
    let msgs: Message[];
    try {
      msgs = this.decoder.push(d);
    } catch (e) {
      this.fail(`protocol error from the embedder: ${(e as Error).message}`);
      return;
    }
    for (const m of msgs) this.dispatch(m);
  }

  private dispatch(m: Message): void {
    if (m.id === 0) {
      if (m.type === MsgType.ERROR) {
        const e = decodeError(m.body);
        this.fail(`the embedder reported ${e.name}: ${e.message}`);
      }
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return; // answer to a forgotten request
    if (m.type === MsgType.ERROR) {
      let e: ErrorBody;
      try {
        e = decodeError(m.body);
      } catch (err) {
        p.reject(new EmbedderError('PROTOCOL', (err as Error).message));
        return;
      }
      p.reject(new EmbedderError(e.name, e.message));
    } else if (m.type === (0x80 | p.type)) {
      p.resolve(m.body);
    } else {
      p.reject(new EmbedderError('PROTOCOL', `answer type 0x${m.type.toString(16)} to request type 0x${p.type.toString(16)}`));
    }
  }

  /** Ends the connection; every pending request rejects with CONNECTION_LOST. */
  fail(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(new EmbedderError(CONNECTION_LOST, reason));
    try {
      this.onDestroy?.();
    } catch {
      /* already gone */
    }
    this.emit('close', reason);
  }

  close(): void {
    this.fail('connection closed by the client');
  }
}
