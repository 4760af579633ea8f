// util.mjs - helpers shared by the differential tests (not a test file).
//
// Environment:
//   GGEMBED_BIN          the ggembed binary (default: build/ggembed under the repo root)
//   GGEMBED_FIXTURES     the vocab fixtures (default: ../shared/fixtures/vocab beside the repo)
//   GGEMBED_DIFF_VOCABS  comma list of vocab names to test, e.g. "bert-bge,qwen2"
//                        (the part between "ggml-vocab-" and ".gguf"); default all
//   GGEMBED_DIFF_THREADS threads for both sides (default 2)
//   GGEMBED_DIFF_REQUIRE_BIN=1  fail (instead of skip) when ggembed or the
//                        subcommand under test is not available

import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, "..", "..");
export const FIXTURES_DIR = process.env.GGEMBED_FIXTURES
  ? path.resolve(process.env.GGEMBED_FIXTURES)
  : path.resolve(REPO_ROOT, "..", "shared", "fixtures", "vocab");
export const THREADS = Number(process.env.GGEMBED_DIFF_THREADS || 2);

export function ggembedBin() {
  const p = process.env.GGEMBED_BIN || path.join("build", process.platform === "win32" ? "ggembed.exe" : "ggembed");
  return path.resolve(REPO_ROOT, p);
}

/** [{name, gguf, inp, out}] for the vocab fixtures, filtered by GGEMBED_DIFF_VOCABS. */
export function vocabFixtures() {
  if (!existsSync(FIXTURES_DIR)) throw new Error(`vocab fixtures not found at ${FIXTURES_DIR} (set GGEMBED_FIXTURES)`);
  const all = readdirSync(FIXTURES_DIR)
    .filter((f) => /^ggml-vocab-.*\.gguf$/.test(f))
    .sort()
    .map((f) => ({
      name: f.slice("ggml-vocab-".length, -".gguf".length),
      gguf: path.join(FIXTURES_DIR, f),
      inp: path.join(FIXTURES_DIR, f + ".inp"),
      out: path.join(FIXTURES_DIR, f + ".out"),
    }));
  const want = (process.env.GGEMBED_DIFF_VOCABS || "").split(",").map((s) => s.trim()).filter(Boolean);
  if (want.length === 0) return all;
  for (const w of want) {
    if (!all.some((v) => v.name === w)) {
      throw new Error(`GGEMBED_DIFF_VOCABS names "${w}", which is not among: ${all.map((v) => v.name).join(", ")}`);
    }
  }
  return all.filter((v) => want.includes(v.name));
}

export function vocabPath(name) {
  return path.join(FIXTURES_DIR, `ggml-vocab-${name}.gguf`);
}

/** Texts of a .inp file: separated by lines reading exactly __ggml_vocab_test__. */
export function readInp(file) {
  const buf = readFileSync(file);
  const text = buf.toString("utf8");
  if (!Buffer.from(text, "utf8").equals(buf)) throw new Error(`${file}: not valid UTF-8`);
  const parts = text.split("\n__ggml_vocab_test__\n");
  if (parts[parts.length - 1] !== "") throw new Error(`${file}: does not end with a separator line`);
  parts.pop();
  return parts;
}

/** Expected ids of a .out file: one line per text, ids separated by spaces. */
export function readOut(file) {
  const lines = readFileSync(file, "utf8").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => l.split(" ").filter(Boolean).map(Number));
}

export function firstDiff(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

export function sameIds(a, b) {
  return firstDiff(a, b) === -1;
}

/** Runs a program with stdin text; resolves {code, stdout, stderr} (never rejects on exit status). */
export function run(file, args, input = "", { timeoutMs = 600000 } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out = [];
    const err = [];
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.stdout.on("data", (d) => out.push(d));
    p.stderr.on("data", (d) => err.push(d));
    p.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
    p.stdin.on("error", () => {}); // the program may exit before reading everything
    p.stdin.end(input);
  });
}

/**
 * Whether `ggembed SUBCOMMAND` can be tested: returns null when it can, or
 * the reason it cannot (binary missing, or the subcommand reports that it
 * is not in this build).
 */
export async function ggembedUnavailable(sub) {
  const bin = ggembedBin();
  if (!existsSync(bin)) return `${bin} does not exist (build it, or set GGEMBED_BIN)`;
  const r = await run(bin, [sub, "--help"]);
  if (/not available in this build/.test(r.stderr + r.stdout)) return `ggembed ${sub} is not available in this build`;
  return null;
}

/** Skips (or, with GGEMBED_DIFF_REQUIRE_BIN=1, fails) a test when ggembed SUB is missing. */
export async function requireGgembed(t, sub) {
  const why = await ggembedUnavailable(sub);
  if (why === null) return true;
  if (process.env.GGEMBED_DIFF_REQUIRE_BIN === "1") throw new Error(why);
  t.skip(why);
  return false;
}

/** Shortens a string for a failure message, showing it as JSON. */
export function show(s, max = 300) {
  const j = JSON.stringify(s);
  return j.length <= max ? j : j.slice(0, max) + `...(${s.length} chars)`;
}

export function showIds(ids, around = -1, max = 40) {
  if (ids.length <= max) return `[${ids.join(" ")}]`;
  const start = Math.max(0, Math.min(around < 0 ? 0 : around - 10, ids.length - max));
  return `[${start > 0 ? "... " : ""}${ids.slice(start, start + max).join(" ")}${start + max < ids.length ? " ..." : ""}] (${ids.length} ids)`;
}
