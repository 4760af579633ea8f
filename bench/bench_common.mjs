// bench_common.mjs - what bench_bert.mjs, bench_decoder.mjs and
// bench_table.mjs share: running `ggembed bench --json` and
// bench/llama_side.mjs (node-llama-cpp, from tests/ref) each in its own
// process, finding the vocabulary fixtures, making models with `ggembed
// mkmodel`, dropping the page cache, and printing aligned tables.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "..");

/** A vocabulary fixture: in $GGEMBED_FIXTURES, else ../shared/fixtures/vocab beside the repository. */
export const vocabFile = (name) =>
  path.join(process.env.GGEMBED_FIXTURES ?? path.join(root, "..", "shared", "fixtures", "vocab"), name);

/** The ggembed binary: --bin, $GGEMBED_BIN, or build/ggembed in the tree. */
export function findBin(opt) {
  const cands = [opt, process.env.GGEMBED_BIN, path.join(root, "build", "ggembed")];
  for (const c of cands) if (c && existsSync(c)) return path.resolve(c);
  throw new Error("no ggembed binary: build it (cmake --build build) or pass --bin");
}

export function checkRef() {
  if (!existsSync(path.join(root, "tests", "ref", "node_modules", "node-llama-cpp", "package.json")))
    throw new Error("node-llama-cpp is not installed: run scripts/setup-ref.sh");
}

/** Free bytes on the file system holding dir. */
export function freeBytes(dir) {
  const out = execFileSync("df", ["-Pk", dir], { encoding: "utf8" }).trim().split("\n").pop().split(/\s+/);
  return Number(out[3]) * 1024;
}

/** Runs `ggembed mkmodel ARGS -o FILE`; returns {seconds, bytes}. */
export function mkmodel(bin, args, file) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(bin, ["mkmodel", ...args, "-o", file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) throw new Error(`ggembed mkmodel failed: ${r.stderr}`);
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, bytes: statSync(file).size };
}

/** Drops the page cache (root only). Returns true when it did. */
export function dropCaches() {
  try {
    execFileSync("sync");
    writeFileSync("/proc/sys/vm/drop_caches", "3\n");
    return true;
  } catch {
    return false;
  }
}

function runJson(cmd, args, what) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 26 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal}): ${r.stderr}`);
  const j = JSON.parse(r.stdout.trim().split("\n").pop());
  j.process_wall_s = wall;
  return j;
}

/** `ggembed bench --json`; texts written to textsFile. */
export function runGgembed(bin, model, { threads, batches, tokens, repeat, textsFile, extra = [] }) {
  const args = ["bench", "-m", model, "--threads", String(threads), "--batch-texts", batches.length ? batches.join(",") : "none",
    "--tokens", String(tokens), "--json", "--dump-texts", textsFile, ...extra];
  if (repeat) args.push("--repeat", String(repeat));
  return runJson(bin, args, "ggembed bench");
}

/** bench/llama_side.mjs over the same texts. */
export function runLlama(model, { threads, batches, repeat, textsFile, context }) {
  const args = [path.join(here, "llama_side.mjs"), "--model", model, "--texts", textsFile, "--threads", String(threads),
    "--batch-texts", batches.length ? batches.join(",") : "none"];
  if (repeat) args.push("--repeat", String(repeat));
  if (context) args.push("--context", String(context));
  return runJson(process.execPath, args, "llama_side.mjs");
}

export const MB = (b) => b / 1048576;

/** Prints rows (arrays of cells) as an aligned table under a header. */
export function table(header, rows) {
  const all = [header, ...rows].map((r) => r.map(String));
  const w = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r) => "| " + r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(" | ") + " |";
  console.log(line(all[0]));
  console.log("|" + w.map((n, i) => (i === 0 ? "-".repeat(n + 1) + "-" : "-".repeat(n + 1) + ":")).join("|") + "|");
  for (const r of all.slice(1)) console.log(line(r));
}

export function machine() {
  const cpu = os.cpus()[0]?.model ?? "?";
  return `${cpu}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}`;
}

export function loadAvg() {
  return os.loadavg()[0].toFixed(1);
}

export function f(x, d = 1) {
  return x == null || Number.isNaN(x) ? "-" : x.toFixed(d);
}

export function readText(file) {
  return readFileSync(file, "utf8");
}
