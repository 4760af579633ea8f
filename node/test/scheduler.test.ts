// The request scheduler on its own, against a scripted connection: which
// deaths are evidence against the texts in flight, and what is re-sent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmbedderError } from '../src/errors.js';
import { MsgType } from '../src/protocol.js';
import { type ClientStats, embedKind, type Item, Scheduler } from '../src/scheduler.js';
import type { Death, Supervisor } from '../src/supervisor.js';

interface Sent {
  id: number;
  n: number;
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

/** A connection that records EMBED requests and lets the test answer them. */
class ScriptedConn {
  isClosed = false;
  sent: Sent[] = [];
  /** set: every EMBED is answered with this error at once */
  refuse: EmbedderError | null = null;
  private nextId = 1;
  send(type: number, body: Buffer): { id: number; promise: Promise<Buffer> } {
    const id = this.nextId++;
    let resolve!: (b: Buffer) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<Buffer>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // EMBED body: deadline u32, 4 option bytes, dims u32, prefix str (empty here), n u32, texts
    if (type === MsgType.EMBED) this.sent.push({ id, n: body.readUInt32LE(16), resolve, reject });
    if (type === MsgType.EMBED && this.refuse) reject(this.refuse);
    else promise.catch(() => {});
    return { id, promise };
  }
  forget(): void {}
  /** answers request s with n vectors [i, 1] */
  ok(s: Sent): void {
    const b = Buffer.alloc(12 + s.n * 8 + s.n * 8);
    b.writeUInt32LE(s.n, 0);
    b.writeUInt32LE(2, 4);
    for (let i = 0; i < s.n; i++) {
      b.writeUInt32LE(3, 12 + i * 8);
      b.writeFloatLE(i, 12 + s.n * 8 + i * 8);
      b.writeFloatLE(1, 12 + s.n * 8 + i * 8 + 4);
    }
    s.resolve(b);
  }
}

function setup() {
  const sup = {
    state: 'ready',
    conn: new ScriptedConn(),
    hello: { maxTexts: 4, maxMessage: 1 << 20, maxQueue: 8, dims: 2 },
    working() {},
  };
  const stats: ClientStats = { requests: 0, texts: 0, replayed: 0, restarts: 0, fallbackTexts: 0, poisoned: 0, cancelled: 0, timeouts: 0 };
  const sched = new Scheduler(sup as unknown as Supervisor, undefined, stats);
  /** the server died: a new connection, the scheduler takes its requests back */
  const die = (blame: boolean): boolean => {
    const old = sup.conn;
    for (const s of old.sent) s.reject(new EmbedderError('CONNECTION_LOST', 'gone'));
    old.isClosed = true;
    sup.conn = new ScriptedConn();
    const death: Death = { reason: blame ? 'crashed' : 'killed from outside', blame, modelChanged: false };
    const attributed = sched.lost(death);
    sched.ready();
    return attributed;
  };
  return { sup, sched, stats, die };
}

const OPTS = embedKind({ pooling: -1, normalize: -1, truncate: true, dims: 0, prefix: '', format: 0 });
const tick = () => new Promise((r) => setImmediate(r));

test('outside kills are no evidence: the text is re-sent every time, never POISON; its own crashes, alone, are', async () => {
  const { sup, sched, stats, die } = setup();
  const box: { result: Item[] | null } = { result: null };
  void sched.submit(['one text'], OPTS, 0).then((r) => {
    box.result = r;
  });
  for (let kill = 0; kill < 5; kill++) {
    assert.equal(sup.conn.sent.length, 1, `sent again after kill ${kill}`);
    assert.equal(die(false), false, 'an outside kill is not attributed');
    await tick();
  }
  assert.equal(box.result, null);
  assert.equal(stats.poisoned, 0);
  // the server's own crash with the text in flight: isolated; again, alone: POISON
  assert.equal(die(true), false, 'a first crash is not yet attributed to the text');
  await tick();
  assert.equal(sup.conn.sent.length, 1);
  assert.equal(die(true), true, 'a crash with the text alone in flight is');
  await tick();
  const r = box.result!;
  assert.equal(r[0]!.kind, 'error');
  assert.equal((r[0] as { error: EmbedderError }).error.code, 'POISON');
  assert.equal(stats.poisoned, 1);
});

test('an outside kill during isolated re-sends keeps them isolated and whole; a crash alone splits the batch', async () => {
  const { sup, sched, die } = setup();
  const box: { result: Item[] | null } = { result: null };
  void sched.submit(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], OPTS, 0).then((r) => {
    box.result = r;
  });
  assert.deepEqual(
    sup.conn.sent.map((s) => s.n),
    [4, 4],
  );
  die(true); // crash: both requests isolated, sent one at a time
  await tick();
  assert.deepEqual(
    sup.conn.sent.map((s) => s.n),
    [4],
  );
  die(false); // killed from outside while alone: sent again whole
  await tick();
  assert.deepEqual(
    sup.conn.sent.map((s) => s.n),
    [4],
  );
  die(true); // crashed again, alone: split in halves
  await tick();
  assert.deepEqual(
    sup.conn.sent.map((s) => s.n),
    [2],
  );
  for (let round = 0; round < 3; round++) {
    const s = sup.conn.sent.at(-1)!;
    sup.conn.ok(s);
    await tick();
  }
  assert.deepEqual(
    sup.conn.sent.map((s) => s.n),
    [2, 2, 4],
  );
  const result = box.result;
  assert.ok(result, 'every text answered');
  assert.deepEqual(
    result.map((x) => x.kind),
    new Array(8).fill('ok'),
  );
  assert.deepEqual(
    result.map((x) => (x as { vector: Float32Array }).vector[0]),
    [0, 1, 0, 1, 0, 1, 2, 3],
  );
});

test('an EMBED answered MODEL_CHANGED is sent again after the restart, not failed', async () => {
  const { sup, sched } = setup();
  const p = sched.submit(['x', 'y'], OPTS, 0);
  // the server answers MODEL_CHANGED (to re-sends too) until it has exited 4 and was restarted
  const old = sup.conn;
  old.refuse = new EmbedderError('MODEL_CHANGED', 'the model file changed');
  old.sent[0]!.reject(old.refuse);
  await new Promise((r) => setTimeout(r, 30));
  old.isClosed = true;
  sup.conn = new ScriptedConn();
  sched.ready();
  // the re-send waits a backoff
  for (let waited = 0; sup.conn.sent.length === 0 && waited < 2000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  assert.equal(sup.conn.sent.length, 1);
  sup.conn.ok(sup.conn.sent[0]!);
  const r = await p;
  assert.deepEqual(
    r.map((x) => x.kind),
    ['ok', 'ok'],
  );
});
