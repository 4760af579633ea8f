// llama_cpp.mjs - the llama.cpp side of bench_table.mjs, through llama.cpp's
// own programs (built by bench/build-llama.sh) rather than node-llama-cpp, so
// that it runs in its best batch setting:
//  - llama-embedding: all texts in one process, packed into batches of
//    `batch` tokens (several texts per forward pass);
//  - llama-server: `slots` parallel slots, the texts sent as concurrent
//    requests over keep-alive HTTP connections, so its continuous batching
//    packs them the same way.
// Compute time of llama-embedding is read from its log's timestamps (from
// the first timed forward pass to its perf print, without loading or warm-up);
// its CPU time from /proc/PID/stat when those two lines come out of its log.
// llama-server's CPU time is read from /proc/PID/stat around the timed
// requests.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";

/** Servers and helpers started here and still running: bench_table kills them if it is stopped. */
export const children = new Set();

const TICK = 100; // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s on Linux

/** CPU seconds (user + system, all threads) of a live process. */
export function procCpu(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" "); // fields from 3 (state) on
  return (Number(f[11]) + Number(f[12])) / TICK; // utime (14), stime (15)
}

/**
 * Runs llama-embedding (args) with its log on stderr: resolves to {wall, log,
 * cpu}, cpu being the process's CPU seconds (user + system, all threads)
 * from its log's first "batch_decode:" line, printed just before the first
 * timed forward pass, to its last "prompt eval time" line (its perf print,
 * after the last pass): the same span as promptEval's seconds. A run on one
 * short text used to be subtracted instead (loading, warm-up); for a 7B
 * file, whose loading outweighs a 13-token pass, that difference came out
 * negative and the CPU time as 0.
 */
function runEmbedding(exe, args, { logFile, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(exe, args, { stdio: ["ignore", "ignore", "pipe"] });
    children.add(child);
    let log = "", rest = "", c0 = null, c1 = null, last = null;
    // the last reading, should the process be gone when its perf line is read
    const sample = () => { try { last = procCpu(child.pid); } catch { /* exited */ } return last; };
    const poll = setInterval(sample, 20);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d) => {
      log += d;
      const lines = (rest + d).split("\n");
      rest = lines.pop();
      for (const l of lines) {
        if (c0 == null && / batch_decode: n_tokens = /.test(l)) c0 = sample();
        else if (/prompt eval time =/.test(l)) c1 = sample();
      }
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearInterval(poll);
      clearTimeout(timer);
      children.delete(child);
      writeFileSync(logFile, log);
      if (code !== 0) {
        const e = new Error(`${path.basename(exe)} failed (${code ?? signal}): ${log.split("\n").slice(-15).join("\n")}`);
        e.signal = signal;
        e.log = log;
        reject(e);
        return;
      }
      resolve({ wall: Number(process.hrtime.bigint() - t0) / 1e9, log, cpu: c0 != null && c1 != null ? c1 - c0 : null });
    });
  });
}

/* A log line's timestamp ("0.02.448.380 I ...": minutes.seconds.ms.us), in seconds. */
function stamp(line) {
  const m = line.match(/^(\d+)\.(\d+)\.(\d+)\.(\d+) /);
  return m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) / 1e3 + Number(m[4]) / 1e6 : NaN;
}

/**
 * llama-embedding's compute time, in seconds, and its token count. Its
 * "prompt eval time" is no measure: llama.cpp only counts it for some passes
 * (it says 0.00 ms when all texts go in one batch). Instead: from the log's
 * first "batch_decode:" line (printed just before the first timed forward
 * pass, after loading and warm-up) to its perf print (after the last pass).
 */
function promptEval(log) {
  const lines = log.split("\n");
  const first = lines.find((l) => / batch_decode: n_tokens = /.test(l));
  const perf = lines.filter((l) => /prompt eval time =\s*[\d.]+ ms \/\s*\d+ tokens/.test(l)).pop();
  if (!first || !perf) throw new Error(`no "batch_decode:" or "prompt eval time" line in llama-embedding's log:\n${lines.slice(-10).join("\n")}`);
  const seconds = stamp(perf) - stamp(first);
  if (!(seconds > 0)) throw new Error(`llama-embedding's log timestamps give no compute time (${seconds} s)`);
  return { seconds, tokens: Number(perf.match(/\/\s*(\d+) tokens/)[1]) };
}

const common = (o) => ["-m", o.model, "-t", String(o.threads), "-tb", String(o.threads), "--pooling", o.pooling ?? "mean", ...fallback.flags];

/*
 * llama.cpp's default is its fastest path for the CPU it runs on, but on some
 * CPUs that path crashes: on an Intel Xeon with AMX, this build's AMX matrix
 * product (ggml_backend_amx_mul_mat, used for repacked weights) ends
 * llama-embedding with SIGSEGV on its first batch. So, once, before the first
 * measured run: one short text as llama.cpp runs by default; if that dies of
 * a signal, the same with --no-repack (no repacked or AMX weights); if that
 * works, every run gets --no-repack and the table says why (llamaFallbackNote).
 */
const fallback = { probed: false, flags: [], note: null };

async function probeDefaults(dir, o) {
  if (fallback.probed) return;
  fallback.probed = true;
  const exe = path.join(dir, "llama-embedding");
  const args = ["-m", o.model, "-t", String(o.threads), "--pooling", o.pooling ?? "mean", "-p", "hello world"];
  const logFile = path.join(o.work, "llama-probe.log");
  try {
    await runEmbedding(exe, args, { logFile, timeoutMs: 10 * 60e3 });
  } catch (e) {
    if (!e.signal) return; // an ordinary failure: the measured run reports it
    try {
      await runEmbedding(exe, [...args, "--no-repack"], { logFile, timeoutMs: 10 * 60e3 });
    } catch {
      return; // it crashes either way: the measured runs report it
    }
    fallback.flags = ["--no-repack"];
    fallback.note = `llama.cpp ran with --no-repack: by default (repacked weights${/AMX_INT8 = 1/.test(e.log ?? "") ? ", AMX on this CPU" : ""}) llama-embedding died of ${e.signal} on one short text`;
  }
}

/** Why llama.cpp runs with other than its default flags, or null. */
export const llamaFallbackNote = () => fallback.note;

/**
 * llama-embedding over texts (strings without newlines), at most `batch`
 * tokens per forward pass (as many whole texts as fit). Resolves to seconds
 * (compute), cpu (CPU seconds over the same span), tokens, and texts_per_s.
 */
export async function llamaEmbedding(dir, o) {
  await probeDefaults(dir, o);
  const textsFile = path.join(o.work, "llama-texts.txt");
  writeFileSync(textsFile, o.texts.join("\n"));
  // llama-embedding raises the batch to the context, so the context is the batch
  const batch = o.batch;
  const args = [...common(o), "-c", String(batch), "-b", String(batch), "-ub", String(batch), "--embd-normalize", "2", "-v", "-f", textsFile]; // -v: this build prints its perf timings only when verbose
  const run = await runEmbedding(path.join(dir, "llama-embedding"), args,
    { logFile: path.join(o.work, "llama-embedding.log"), timeoutMs: o.timeoutMs ?? 30 * 60e3 });
  const pe = promptEval(run.log);
  if (run.cpu == null) throw new Error("llama-embedding: no CPU time read between its batch_decode and perf lines");
  return {
    how: `llama-embedding -b ${batch}`, seconds: pe.seconds, tokens: pe.tokens, texts_per_s: o.texts.length / pe.seconds,
    cpu: run.cpu, process_wall: run.wall,
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on("error", reject);
  });
}

function post(agent, port, pathName, body) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request({ host: "127.0.0.1", port, path: pathName, method: "POST", agent,
      headers: { "content-type": "application/json", "content-length": data.length } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200) reject(new Error(`llama-server ${pathName}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
        else resolve(JSON.parse(text));
      });
    });
    req.on("error", reject);
    req.end(data);
  });
}

function get(port, pathName) {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: pathName }, (res) => { res.resume(); resolve(res.statusCode); });
    req.on("error", () => resolve(0));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts llama-server with `slots` parallel slots of `slotCtx` tokens each;
 * resolves once /health answers 200. Returns {pid, embed(text), stop()}.
 */
export async function startLlamaServer(dir, o) {
  await probeDefaults(dir, o);
  const port = await freePort();
  const batch = o.batch ?? 2048;
  for (const [k, v] of Object.entries({ slots: o.slots, slotCtx: o.slotCtx, batch })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`startLlamaServer: ${k} must be a whole number >= 1, not ${v}`);
  }
  // -fit off: its automatic fitting of the context to device memory aborts on this CPU-only build
  const args = [...common(o), "--embeddings", "-np", String(o.slots), "-c", String(o.slots * o.slotCtx),
    "-b", String(batch), "-ub", String(batch), "-fit", "off", "--host", "127.0.0.1", "--port", String(port), "--no-webui", ...(o.extra ?? [])];
  const logFile = path.join(o.work, `llama-server${o.tag ? `-${o.tag}` : ""}.log`);
  const { openSync, closeSync } = await import("node:fs");
  const fd = openSync(logFile, "w");
  const child = spawn(path.join(dir, "llama-server"), args, { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  children.add(child);
  let exited = null;
  child.on("exit", (c, s) => { exited = c ?? s; children.delete(child); });
  const t0 = Date.now();
  for (;;) {
    if (exited !== null) throw new Error(`llama-server exited (${exited}): ${readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n")}`);
    if ((await get(port, "/health")) === 200) break;
    if (Date.now() - t0 > 10 * 60e3) { child.kill(); throw new Error("llama-server did not become ready in 10 minutes"); }
    await sleep(100);
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.slots });
  return {
    pid: child.pid,
    how: `llama-server -np ${o.slots}`,
    embed: (text) => post(agent, port, "/v1/embeddings", { input: text }),
    async stop() {
      agent.destroy();
      if (exited === null) {
        const done = new Promise((r) => child.on("exit", r));
        child.kill("SIGTERM");
        await Promise.race([done, sleep(10e3)]);
        if (exited === null) child.kill("SIGKILL");
      }
    },
  };
}

/** Sends texts with `concurrency` requests in flight; returns {seconds, cpu, texts_per_s}. */
export async function throughput(server, texts, concurrency) {
  let next = 0;
  const c0 = procCpu(server.pid);
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < texts.length) await server.embed(texts[next++]);
  }));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { how: server.how, seconds, cpu: procCpu(server.pid) - c0, texts_per_s: texts.length / seconds };
}

/** One request at a time; per-request milliseconds and the server's CPU seconds in all. */
export async function latency(server, texts) {
  const ms = [];
  const c0 = procCpu(server.pid);
  for (const t of texts) {
    const t0 = process.hrtime.bigint();
    await server.embed(t);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { ms, cpu: procCpu(server.pid) - c0 };
}
