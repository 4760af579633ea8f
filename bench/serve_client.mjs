// serve_client.mjs - just enough of docs/PROTOCOL.md (HELLO, EMBED) to time
// `ggembed serve` from bench_table.mjs over its Unix socket, without the
// npm package (which would need its own build). One request at a time.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { children } from "./llama_cpp.mjs";

const HELLO = 0x01, EMBED = 0x02, ERROR = 0xff, MORE = 1, HEADER = 12;

function frame(type, id, body) {
  const h = Buffer.alloc(HEADER);
  h.writeUInt32LE(body.length, 0);
  h.writeUInt8(type, 4);
  h.writeUInt32LE(id, 8);
  return Buffer.concat([h, body]);
}

function str(s) {
  const b = Buffer.from(s, "utf8");
  const n = Buffer.alloc(4);
  n.writeUInt32LE(b.length, 0);
  return Buffer.concat([n, b]);
}

/** A connection that sends one request and waits for its whole answer. */
class Conn {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.parts = [];
    this.waiter = null;
    this.nextId = 1;
    sock.on("data", (d) => { this.buf = Buffer.concat([this.buf, d]); this.drain(); });
    sock.on("error", (e) => this.fail(e));
    sock.on("close", () => this.fail(new Error("ggembed serve closed the connection")));
  }
  fail(e) {
    const w = this.waiter;
    this.waiter = null;
    if (w) w.reject(e);
  }
  drain() {
    while (this.buf.length >= HEADER) {
      const len = this.buf.readUInt32LE(0);
      if (this.buf.length < HEADER + len) return;
      const type = this.buf.readUInt8(4), flags = this.buf.readUInt8(5);
      this.parts.push(this.buf.subarray(HEADER, HEADER + len));
      this.buf = this.buf.subarray(HEADER + len);
      if (flags & MORE) continue;
      const body = Buffer.concat(this.parts);
      this.parts = [];
      const w = this.waiter;
      this.waiter = null;
      if (!w) continue;
      if (type === ERROR) w.reject(new Error(`ggembed serve: ERROR answer: ${body.toString("latin1").replace(/[^\x20-\x7e]/g, " ").trim()}`));
      else if (type !== (w.type | 0x80)) w.reject(new Error(`ggembed serve: answer type ${type} to request ${w.type}`));
      else w.resolve(body);
    }
  }
  request(type, body) {
    return new Promise((resolve, reject) => {
      this.waiter = { type, resolve, reject };
      this.sock.write(frame(type, this.nextId++, body));
    });
  }
  hello() {
    const v = Buffer.alloc(4);
    v.writeUInt16LE(1, 0);
    v.writeUInt16LE(1, 2);
    return this.request(HELLO, Buffer.concat([v, str("bench_table")]));
  }
  /** One text, the server's defaults (pooling, normalization), f32. */
  embed(text) {
    const h = Buffer.alloc(12);
    h.writeUInt32LE(0, 0); // no deadline
    h.writeInt8(-1, 4); // model's pooling
    h.writeInt8(-1, 5); // server's normalization
    h.writeUInt8(1, 6); // truncate
    h.writeUInt8(0, 7); // f32
    h.writeUInt32LE(0, 8); // all dimensions
    const n = Buffer.alloc(4);
    n.writeUInt32LE(1, 0);
    return this.request(EMBED, Buffer.concat([h, str(""), n, str(text)]));
  }
  close() { this.sock.destroy(); }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function connect(socketPath) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socketPath);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

/** Starts `ggembed serve` on a socket in work; returns {pid, embed(text), stop()}. */
export async function startGgembedServe(bin, model, { threads, work, tag = "g" }) {
  const sock = path.join(work, `serve-${tag}.sock`);
  rmSync(sock, { force: true });
  const logFile = path.join(work, `serve-${tag}.log`);
  const { openSync, closeSync } = await import("node:fs");
  const fd = openSync(logFile, "w");
  const child = spawn(bin, ["serve", "-m", model, "--socket", sock, "--threads", String(threads)], { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  children.add(child);
  let exited = null;
  child.on("exit", (c, s) => { exited = c ?? s; children.delete(child); });
  const t0 = Date.now();
  let s;
  for (;;) {
    if (exited !== null) throw new Error(`ggembed serve exited (${exited}): ${readFileSync(logFile, "utf8")}`);
    if (existsSync(sock)) {
      try { s = await connect(sock); break; } catch { /* not listening yet */ }
    }
    if (Date.now() - t0 > 120e3) { child.kill(); throw new Error("ggembed serve did not listen within 2 minutes"); }
    await sleep(50);
  }
  const conn = new Conn(s);
  await conn.hello();
  return {
    pid: child.pid,
    how: "ggembed serve",
    embed: (text) => conn.embed(text),
    async stop() {
      conn.close();
      if (exited === null) {
        const done = new Promise((r) => child.on("exit", r));
        child.kill("SIGTERM");
        await Promise.race([done, sleep(10e3)]);
        if (exited === null) child.kill("SIGKILL");
      }
      rmSync(sock, { force: true });
    },
  };
}
