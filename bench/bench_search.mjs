#!/usr/bin/env node
// bench_search.mjs - the code search store (node/src/search, LanceDB) at 10k
// and, with --million, 1M chunks: time to write the chunks, to build the
// indexes (full-text, and the vector index past its threshold), search
// p50/p99, and the RSS of the Node process and of the store process.
//
//   node bench/bench_search.mjs [--sizes 10000] [--million] [--dims 384] [--queries 200]
//        [--process child|inline] [--dir DIR] [--keep] [--reuse [--optimize]] [--write-batch 50000]
//        [--index-cache-mb N] [--metadata-cache-mb N] [--store-build] [--globs G1,G2,...] [--languages L1,...]
//   node bench/bench_search.mjs --index REPO --model FILE [--process child|inline|file] [--chunker process|worker|thread]
//        [--seconds N] [--thread-old-mb N] [--store-rss-mb N]
//
// --index indexes REPO with the model (the real indexer and embedder, as
// index_codebase does: chunking in its own process, or with --chunker
// worker in a worker thread, with --chunker thread in this one) into a
// fresh store, sampling every 50 ms the RSS of this process (what the MCP
// server would hold), of the store process and of the chunking process,
// and where this process's memory was at its peak (its heap spaces, the file
// being chunked then), and the largest frame it sent the store process and
// answer it read. The store process's RSS is logged (stderr) as it grows,
// with the operation in flight and the rows written so far, and its peak
// during each kind of operation is tabled with the number of store
// processes started (one more for each ended past its bound, storeRssMb).
// --store-rss-mb N sets that bound (0: never ended). --seconds N stops the
// run after N seconds (for trees too large to index in one sitting);
// --thread-old-mb N bounds the chunking thread's old generation (default 64).
//
// Needs `npm ci` in node/ (LanceDB is a dev dependency there) and `npm run build`.
// The chunks are windows of 12 lines of this repository's own C and
// TypeScript sources (numbered so each is distinct) in files of 50 chunks;
// their vectors are seeded random unit vectors of --dims dimensions (no model
// runs: the query embedding is excluded by design). Queries are 2-word texts
// taken from the corpus and, for the vector half, a stored vector with noise.
// "rank" is the store's query alone (vector half + BM25 half, in the store
// process); "search" is searchCode() around it (fusion, the symbol/path
// signal, snippets) with the query vector precomputed.
//
// Each size is written by a writer process of its own (the LanceDB engine
// in it, --write-batch chunk rows per write: the store's own write path, in
// large batches), which then builds the indexes (optimize: full-text, and
// IVF-PQ past the threshold) before anything is timed. The queries then run
// in this process through a LanceStore with its store process, as the MCP
// server runs them, so that "Node RSS" is what the MCP server holds at that
// index size, and "store RSS" the store process's while it answers. With
// --dir and --reuse, an index written before (DIR/nN/done) is searched again
// as it is, without writing it or building anything (a search-only run: at 1M
// chunks, minutes instead of the build's tens); --optimize first runs the
// store's optimize() on it, which adds the indexes a newer version builds (and
// may compact the table again). A run stopped after writing (DIR/nN/written)
// goes on with the index build. --store-build builds the indexes in a store
// process of its own instead of the writer (the MCP server's store process,
// its environment and bounds), and reports that process's peak RSS. Each query
// also runs with each of --globs as its path_glob and each of --languages
// (default c) as its language filter, in turn, so that filtered and unfiltered
// times are taken side by side.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { f, machine, root, table } from "./bench_common.mjs";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "10000" }, million: { type: "boolean" }, dims: { type: "string", default: "384" },
    queries: { type: "string", default: "200" }, process: { type: "string", default: "child" },
    dir: { type: "string" }, keep: { type: "boolean" }, index: { type: "string" }, model: { type: "string" },
    chunker: { type: "string", default: "process" }, seconds: { type: "string" }, "thread-old-mb": { type: "string" },
    reuse: { type: "boolean" }, optimize: { type: "boolean" }, "write-batch": { type: "string", default: "50000" }, "write-phase": { type: "string" },
    "store-build": { type: "boolean" }, globs: { type: "string", default: "src/dir42/**,src/dir1*/**,**/*.c,**/file1?.ts,**/dir4*/**,**/file*7.{c,ts}" },
    languages: { type: "string", default: "c" },
    "index-cache-mb": { type: "string" }, "metadata-cache-mb": { type: "string" }, "store-rss-mb": { type: "string" },
  },
});
// --index: the ggembed-mcp bin's V8 flags (v8-flags.ts), so that the Node RSS is the MCP server's
const dist = path.join(root, "node", "dist", "src", "search");
// (as the bin does: set again after the chunking thread starts, which resets V8's flags)
if (values.index) (await import(path.join(dist, "..", "v8-flags.js"))).setMcpServerFlags();
const { LanceStore } = await import(path.join(dist, "lance-store.js"));
const { searchCode } = await import(path.join(dist, "search.js"));
const { sha256 } = await import(path.join(dist, "store.js"));
const { DEFAULT_VECTOR_INDEX_ROWS } = await import(path.join(dist, "lance.js"));

const dims = Number(values.dims);
const sizes = values.sizes.split(",").map(Number);
if (values.million) sizes.push(1_000_000);
const nq = Number(values.queries);
const base = values.dir ?? mkdtempSync(path.join(os.tmpdir(), "ggembed-bench-search-"));

// the corpus: 12-line windows of the repository's sources (not read for --index: it is not the MCP server's memory)
function sources(dir, out = []) {
  if (values.index) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) sources(p, out);
    else if (/\.(c|h|ts)$/.test(e.name)) out.push(p);
  }
  return out;
}
const windows = [];
for (const file of [...sources(path.join(root, "src")), ...sources(path.join(root, "node", "src"))]) {
  const lines = readFileSync(file, "utf8").split("\n");
  for (let i = 0; i + 12 <= lines.length; i += 12) windows.push(lines.slice(i, i + 12).join("\n"));
}
const vocabulary = [...new Set(windows.join(" ").match(/[A-Za-z_][A-Za-z0-9_]{3,}/g))];

let seed = 12345;
const rnd = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32 - 0.5;
};
function unit(v) {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  return v.map((x) => x / n);
}
/** the vector of chunk i: its own seed, so that the writer and the querying process agree on it */
function vectorAt(i) {
  let s = (Math.imul(i + 1, 2654435761) ^ 0x9e3779b9) >>> 0;
  const v = new Float32Array(dims);
  for (let d = 0; d < dims; d++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    v[d] = s / 2 ** 32 - 0.5;
  }
  return unit(v);
}
const PER_FILE = 50;
const textAt = (i) => `${windows[i % windows.length]}\n// ${i}`;

function rssOf(pid) {
  if (!pid) return null;
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k) => Number(s.match(new RegExp(`${k}:\\s+(\\d+)`))?.[1] ?? NaN) / 1024;
    return { rss: kb("VmRSS"), peak: kb("VmHWM") };
  } catch {
    return null;
  }
}
const selfRss = () => rssOf(process.pid) ?? { rss: process.memoryUsage().rss / 1048576, peak: NaN };
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

if (values.index) {
  const { Embedder } = await import(path.join(root, "node", "dist", "src", "index.js"));
  const { indexRepository } = await import(path.join(dist, "indexer.js"));
  const e = await Embedder.start({ model: values.model, binary: path.join(root, "build", "ggembed"), healthIntervalMs: 0 });
  const dir = path.join(base, "index");
  // --process file: FileStore, the baseline of what the indexer and the embedder client hold without LanceDB
  const { FileStore } = await import(path.join(dist, "store.js"));
  const rssMb = values["store-rss-mb"] === undefined ? {} : { storeRssMb: Number(values["store-rss-mb"]) };
  const store = values.process === "file" ? await FileStore.open(dir) : await LanceStore.open(dir, { process: values.process, ...rssMb });
  await store.setMeta({ model: "bench", dims: e.info().dims });
  if (!["process", "worker", "thread"].includes(values.chunker)) throw new Error(`--chunker ${values.chunker}: expected process, worker or thread`);
  const { ChunkWorker } = await import(path.join(dist, "chunk-worker.js"));
  const { ChunkProcess } = await import(path.join(dist, "chunk-process.js"));
  const threadOld = values["thread-old-mb"] ? { resourceLimits: { maxOldGenerationSizeMb: Number(values["thread-old-mb"]) } } : {};
  const chunker = values.chunker === "worker" ? new ChunkWorker(threadOld) : values.chunker === "process" ? new ChunkProcess() : undefined;
  const { getHeapStatistics, getHeapSpaceStatistics } = await import("node:v8");
  let node = 0;
  let child = 0;
  let chunkerPeak = 0;
  let atPeak = null;
  /** the file the indexer last reported (progress), named with the peak */
  let current = null;
  const MB = (x) => x / 1048576;
  /** where this process's memory is (taken when its RSS is at a new peak) */
  const breakdown = () => {
    const u = process.memoryUsage();
    const h = getHeapStatistics();
    let smaps = {};
    try {
      for (const m of readFileSync("/proc/self/smaps_rollup", "utf8").matchAll(/^(Anonymous|Rss|Shared_Clean|Private_Clean|Private_Dirty):\s+(\d+) kB/gm)) smaps[m[1]] = Number(m[2]) / 1024;
    } catch {
      smaps = {};
    }
    return {
      "heap used": MB(u.heapUsed), "heap committed": MB(h.total_physical_size), external: MB(u.external), arrayBuffers: MB(u.arrayBuffers),
      "smaps anon": smaps.Anonymous ?? NaN, "smaps file-backed": (smaps.Shared_Clean ?? 0) + (smaps.Private_Clean ?? 0),
      ...Object.fromEntries(getHeapSpaceStatistics().filter((sp) => sp.physical_space_size > 1048576).map((sp) => [sp.space_name, MB(sp.physical_space_size)])),
      chunker: chunker?.state ?? "(in this thread)",
      "file being chunked": current ?? "-",
    };
  };
  // the store operation in flight (one at a time: the store process serves them in order), the store
  // process's RSS peak seen while each kind of operation ran, and the chunk rows written so far
  let op = "idle";
  let rowsWritten = 0;
  const opPeaks = new Map();
  const t00 = performance.now();
  if (values.process === "child") {
    for (const name of ["fileRecords", "listPaths", "haveHashes", "stageVectors", "stageChunks", "writeFiles", "removeFiles", "optimize", "counts"]) {
      const fn = store.engine[name]?.bind(store.engine);
      if (!fn) continue;
      store.engine[name] = async (...args) => {
        op = name;
        if (name === "writeFiles") for (const w of args[0]) rowsWritten += w.stagedChunks?.count ?? w.rec.chunks.length;
        try {
          return await fn(...args);
        } finally {
          op = "idle";
        }
      };
    }
  }
  let logged = 0;
  const sample = () => {
    const rss = selfRss().rss;
    if (rss > node) {
      node = rss;
      atPeak = breakdown();
    }
    // (a process that is exiting has no VmRSS any more: NaN, not a number to keep)
    const sr = rssOf(store.engine?.pid)?.rss || 0;
    child = Math.max(child, sr);
    opPeaks.set(op, Math.max(opPeaks.get(op) ?? 0, sr));
    // the store process's growth as it happens: which operation, at how many rows
    if (sr > logged + 25 || sr < logged - 100) {
      logged = sr;
      console.error(`bench_search store: ${f((performance.now() - t00) / 1000, 0)} s, ${rowsWritten} chunk rows written, RSS ${f(sr, 0)} MB during ${op}`);
    }
    chunkerPeak = Math.max(chunkerPeak, rssOf(chunker?.pid)?.rss || 0);
  };
  const timer = setInterval(sample, 50);
  const t0 = performance.now();
  const signal = values.seconds ? AbortSignal.timeout(Number(values.seconds) * 1000) : undefined;
  const r = await indexRepository(path.resolve(values.index), e, store, {
    maxTokens: Math.min(e.info().context ?? 512, 512), chunker, signal,
    onProgress: (p) => {
      if (p.currentFile) current = p.currentFile;
    },
  });
  await store.optimize?.();
  sample();
  // the store process's own peak (VmHWM): what 50 ms samples may miss
  const storeHwm = rssOf(store.engine?.pid)?.peak;
  clearInterval(timer);
  const s = (performance.now() - t0) / 1000;
  // after the run: the chunking thread ends after 5 s without a file; what the server holds between runs
  await new Promise((r) => setTimeout(r, 6000));
  const idle = selfRss().rss;
  const where = { process: "a process of its own", worker: "a worker thread", thread: "the main thread" }[values.chunker];
  console.log(`bench_search --index: ${values.index} with ${path.basename(values.model)} (${e.info().dims} dims); store ${values.process}; chunking in ${where}`);
  console.log(machine());
  table(
    ["files", "chunks", "embedded", "errors", "stopped", "s", "Node RSS peak MB", "Node RSS 6 s after MB", "store RSS peak MB", "chunker RSS peak MB", "chunker after", "largest frame to the store KB"],
    [[r.walk.files, r.chunks, r.chunksEmbedded, r.errors.length, r.aborted ? `after ${values.seconds} s` : "no", f(s, 1), f(node, 0), f(idle, 0), values.process === "child" ? f(child, 0) : values.process === "file" ? "(no store process)" : "in the Node process", values.chunker === "process" ? f(chunkerPeak, 0) : "in the Node process", chunker ? chunker.state : "-", store.engine?.status ? f(store.engine.status().largestFrame / 1024, 0) : "-"]],
  );
  if (opPeaks.size)
    table(
      ["store VmHWM MB (last process)", "store processes", "ended for their RSS", "largest answer from the store KB", ...[...opPeaks.keys()].map((k) => `store RSS peak MB during ${k}`)],
      [[f(storeHwm ?? NaN, 0), store.engine.status().starts, store.restarts ?? "-", f(store.engine.status().largestReply / 1024, 0), ...[...opPeaks.values()].map((v) => f(v, 0))]],
    );
  if (atPeak) table(Object.keys(atPeak).map((k) => `${k}${typeof atPeak[k] === "number" ? " MB" : ""}`), [Object.values(atPeak).map((v) => (typeof v === "number" ? f(v, 1) : v))]);
  await chunker?.close();
  await store.close();
  await e.close();
  if (!values.keep && !values.dir) rmSync(base, { recursive: true, force: true });
  process.exit(0);
}

if (values["write-phase"]) {
  // the writer: n chunk rows through the engine's own write path in large batches, then the indexes
  const n = Number(values["write-phase"]);
  const dir = values.dir;
  const { LanceEngine } = await import(path.join(dist, "lance.js"));
  const engine = await LanceEngine.open(dir, { optimizeRows: Number.MAX_SAFE_INTEGER });
  await engine.setMeta({ model: "bench", dims });
  const batch = Math.max(PER_FILE, Math.floor(Number(values["write-batch"]) / PER_FILE) * PER_FILE);
  // --reuse: the rows of a run stopped before its indexes were built are not written again
  const wroteBefore = existsSync(path.join(dir, "written")) ? JSON.parse(readFileSync(path.join(dir, "written"), "utf8")) : null;
  const t0 = performance.now();
  // the writer's RSS once a second, printed when it moved by 25 MB: which step holds the memory
  // (with LANCEDB_LOG=info in the environment, LanceDB's own log names the steps at the same times)
  let phase = "write";
  let shown = 0;
  const phasePeak = {};
  const rssTimer = setInterval(() => {
    const r = selfRss().rss;
    phasePeak[phase] = Math.max(phasePeak[phase] ?? 0, r);
    if (Math.abs(r - shown) >= 25) {
      shown = r;
      console.error(`bench_search writer: ${new Date().toISOString()} ${phase} RSS ${f(r, 0)} MB`);
    }
  }, 1000);
  for (let start = wroteBefore ? n : 0; start < n; start += batch) {
    const writes = [];
    for (let k = start; k < Math.min(n, start + batch); k += PER_FILE) {
      const fileNo = k / PER_FILE;
      const fresh = [];
      for (let i = k; i < Math.min(n, k + PER_FILE); i++) {
        const text = textAt(i);
        fresh.push({ hash: sha256(text), text, vector: vectorAt(i) });
      }
      writes.push({
        rec: {
          path: `src/dir${fileNo % 100}/file${fileNo}.${fileNo % 2 ? "c" : "ts"}`,
          hash: sha256(`file ${fileNo}`),
          size: 1,
          mtimeMs: 1,
          language: fileNo % 2 ? "c" : "typescript",
          chunks: fresh.map((it, j) => ({ hash: it.hash, startLine: j * 12 + 1, endLine: j * 12 + 12, symbol: null, kind: "lines" })),
        },
        fresh,
      });
    }
    await engine.writeFiles(writes);
    if ((start / batch) % 4 === 0) console.error(`bench_search writer: ${Math.min(n, start + batch)} of ${n} rows, ${f((performance.now() - t0) / 1000, 0)} s, RSS ${f(selfRss().rss, 0)} MB`);
  }
  const writeMs = wroteBefore?.writeMs ?? performance.now() - t0;
  writeFileSync(path.join(dir, "written"), JSON.stringify({ writeMs, writerPeakMb: wroteBefore?.writerPeakMb ?? selfRss().peak }));
  if (values["store-build"]) {
    // the indexes are built by the store process (below), as the MCP server's store builds them
    // (close() would build them here: the rows it counts as written since an optimize() are forgotten)
    clearInterval(rssTimer);
    engine.sinceOptimize = 0;
    await engine.close();
    process.exit(0);
  }
  const t1 = performance.now();
  phase = "optimize";
  const st = await engine.optimize();
  const indexMs = performance.now() - t1;
  phase = "close";
  await engine.close();
  clearInterval(rssTimer);
  const out = { writeMs, indexMs, vectorIndex: st.vectorIndex, rows: st.rows, writerPeakMb: selfRss().peak, phasePeakMb: phasePeak };
  writeFileSync(path.join(dir, "done"), JSON.stringify(out));
  console.log(JSON.stringify(out));
  process.exit(0);
}

/** A list split at its commas outside braces: `**\/*.{c,ts}` is one glob. */
function topLevelCommas(list) {
  const out = [""];
  let depth = 0;
  for (const c of list) {
    if (c === "," && depth === 0) out.push("");
    else {
      if (c === "{") depth++;
      else if (c === "}") depth = Math.max(0, depth - 1);
      out[out.length - 1] += c;
    }
  }
  return out;
}

const rows = [];
const globRows = [];
// the filters each query also runs with: each --globs as its path_glob, then each --languages as its language
const filters = [
  ...topLevelCommas(values.globs)
    .filter(Boolean)
    .map((g) => ({ glob: g, options: { pathGlob: g } })),
  ...values.languages
    .split(",")
    .filter(Boolean)
    .map((l) => ({ glob: `language ${l}`, options: { language: l } })),
];
const globs0 = () => filters[0]?.glob ?? "filtered";
for (const n of sizes) {
  const dir = path.join(base, `n${n}`);
  if (!(values.reuse && existsSync(path.join(dir, "done")))) {
    if (!(values.reuse && existsSync(path.join(dir, "written")))) rmSync(dir, { recursive: true, force: true });
    const storeBuild = values["store-build"] ? ["--store-build"] : [];
    execFileSync(process.execPath, [process.argv[1], "--write-phase", String(n), "--dir", dir, "--dims", String(dims), "--write-batch", values["write-batch"], ...storeBuild], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    if (values["store-build"]) {
      // --store-build: the indexes built by a store process of its own (its environment and bounds),
      // its RSS sampled every second; its peak (VmHWM) is the figure
      const store = await LanceStore.open(dir, { process: "child", optimizeRows: Number.MAX_SAFE_INTEGER });
      await store.stats();
      const pid = store.engine.pid;
      let top = 0;
      const timer = setInterval(() => {
        const r = rssOf(pid)?.rss ?? 0;
        if (r > top + 25) console.error(`bench_search store process: ${new Date().toISOString()} RSS ${f(r, 0)} MB`);
        top = Math.max(top, r);
      }, 1000);
      const t1 = performance.now();
      const st = await store.optimize();
      const indexMs = performance.now() - t1;
      clearInterval(timer);
      const storePeakMb = rssOf(pid)?.peak ?? NaN;
      await store.close();
      const before = JSON.parse(readFileSync(path.join(dir, "written"), "utf8"));
      const out = { ...before, indexMs, vectorIndex: st.vectorIndex, rows: st.rows, storePeakMb, env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("LANCE"))) };
      writeFileSync(path.join(dir, "done"), JSON.stringify(out));
      console.error(`bench_search store build: ${JSON.stringify(out)}`);
    }
  }
  const written = JSON.parse(readFileSync(path.join(dir, "done"), "utf8"));
  // the store's cache bounds, or others to compare (LanceDB's own defaults: 6144 and 1024)
  const mb = (k) => (values[k] === undefined ? undefined : Number(values[k]) * 1048576);
  const store = await LanceStore.open(dir, {
    process: values.process,
    optimizeRows: Number.MAX_SAFE_INTEGER,
    indexCacheBytes: mb("index-cache-mb"),
    metadataCacheBytes: mb("metadata-cache-mb"),
  });
  if (values.optimize) {
    // an index written by an older version gets the indexes this one builds (at 1M rows: minutes,
    // as it may compact the table again, so --reuse alone searches the index as it is)
    const t = performance.now();
    await store.optimize();
    console.error(`bench_search: optimize() of the reused index, ${f((performance.now() - t) / 1000, 1)} s`);
  }
  const st = await store.stats();
  console.error(`bench_search: ${dir}: ${st.rows} rows, vector index ${st.vectorIndex ?? "none"}, scalar indexes ${st.scalarIndexes.join(" ") || "none"}`);
  if (st.rows !== n) throw new Error(`${dir} holds ${st.rows} rows, not ${n}`);
  const writeMs = written.writeMs;
  const indexMs = written.indexMs;
  let peakNode = selfRss().rss;
  // queries near stored vectors, spread over the table
  const keep = Array.from({ length: nq }, (_, j) => vectorAt(Math.floor((j * n) / nq)));

  const queries = Array.from({ length: nq }, (_, i) => ({
    vector: unit(keep[i % keep.length].map((x) => x + 0.02 * rnd())),
    text: `${vocabulary[Math.floor((rnd() + 0.5) * vocabulary.length)]} ${vocabulary[Math.floor((rnd() + 0.5) * vocabulary.length)]}`,
  }));
  const fake = { embed: async () => ({ embedding: queries[qi].vector, degraded: false }) };
  let qi = 0;
  for (let i = 0; i < 5; i++) await store.rank({ ...queries[i], k: 40 }); // warm
  const rankMs = [];
  const searchMs = [];
  // each query unfiltered and with each glob in turn, so that the machine's load falls on all alike
  const byGlob = filters.map((flt) => ({ ...flt, ms: [], fewest: Infinity }));
  for (qi = 0; qi < nq; qi++) {
    const q = queries[qi];
    let t = performance.now();
    await store.rank({ ...q, k: 40 });
    rankMs.push(performance.now() - t);
    t = performance.now();
    await searchCode(dir, store, fake, q.text, { limit: 10 });
    searchMs.push(performance.now() - t);
    for (const g of byGlob) {
      t = performance.now();
      const rs = await searchCode(dir, store, fake, q.text, { limit: 10, ...g.options });
      g.ms.push(performance.now() - t);
      g.fewest = Math.min(g.fewest, rs.length);
    }
  }
  const filtered = byGlob[0]?.ms ?? [];
  globRows.push(
    ...byGlob.map((g) => [
      n.toLocaleString("en"),
      g.glob,
      f(pct(searchMs, 50), 1),
      f(pct(g.ms, 50), 1),
      f(pct(searchMs, 99), 1),
      f(pct(g.ms, 99), 1),
      String(g.fewest),
    ]),
  );
  const child = rssOf(store.engine.pid);
  const node = selfRss();
  rows.push([
    n.toLocaleString("en"),
    f(writeMs / 1000, 1),
    f(indexMs / 1000, 1),
    st.vectorIndex ?? "none (exact)",
    f(pct(rankMs, 50), 1),
    f(pct(rankMs, 99), 1),
    f(pct(searchMs, 50), 1),
    f(pct(searchMs, 99), 1),
    f(pct(filtered, 50), 1),
    f(Math.max(peakNode, node.rss), 0),
    child ? `${f(child.rss, 0)} (peak ${f(child.peak, 0)})` : "in the Node process",
    written.storePeakMb ? `${f(written.storePeakMb, 0)} (store process)` : f(written.writerPeakMb, 0),
  ]);
  // each size as it is done: a long run cut short still leaves its numbers
  console.error(`bench_search: ${rows.at(-1).join(" | ")}`);
  await store.close();
}

console.log(`bench_search: ${dims} dims (seeded random unit vectors), chunks of 12 lines of this repository's sources, ${nq} queries; store ${values.process}; vector index from ${DEFAULT_VECTOR_INDEX_ROWS.toLocaleString("en")} rows`);
console.log(machine());
table(
  ["chunks", "write s", "optimize s", "vector index", "rank p50 ms", "rank p99 ms", "search p50 ms", "search p99 ms", `${globs0()} p50 ms`, "Node RSS MB", "store RSS MB", "index build peak RSS MB"],
  rows,
);
console.log("search_code with a path_glob or a language, side by side with the same queries unfiltered (limit 10; fewest: the fewest results any query got)");
table(["chunks", "filter", "unfiltered p50 ms", "filtered p50 ms", "unfiltered p99 ms", "filtered p99 ms", "fewest results"], globRows);
if (!values.keep && !values.dir) rmSync(base, { recursive: true, force: true });
