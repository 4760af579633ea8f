#!/usr/bin/env node
// bench_rerank.mjs - what a reranker costs search_code: latency p50/p99 of
// searchCode (the hybrid order: query embedding, the store's vector, BM25
// and names halves, fusion, snippets) against searchCodeReranked with K
// candidates scored by a reranker (the same, with each half asked for
// K x 4, plus reading the candidates' lines and one RERANK of K pairs), side
// by side per query, on an index of a repository built by the real indexer.
// CPU time of the embedder's and the reranker's ggembed processes per query
// is read from /proc, with the store process's and this one's (less noisy
// than wall time on a shared machine; /proc counts in 10 ms ticks, so the
// per-query figures are sums over all queries divided by their number).
// "rerank" is the reranker's part of a reranked search (the candidates'
// lines read and scored), as searchCodeReranked reports it.
//
//   node bench/bench_rerank.mjs --model EMB.gguf --reranker RR.gguf [--repo DIR] [--dir INDEXDIR [--reuse]]
//        [--ks 10,30,60,100] [--limit 10] [--queries 50] [--threads 1] [--store lance|file]
//
// Without --dir the index goes to a temporary directory (removed at the end);
// with --dir it is kept, and --reuse searches it again without indexing. The
// queries are the first words (3 to 8) of comment lines of the repository's
// sources, picked with a fixed stride, so every run asks the same ones.
// Needs `cd node && npm install --no-save && npm run build`.
import { readdirSync, readFileSync, mkdtempSync, rmSync, existsSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { f, machine, root, table } from "./bench_common.mjs";

const { values } = parseArgs({
  options: {
    model: { type: "string" }, reranker: { type: "string" }, repo: { type: "string" }, dir: { type: "string" },
    reuse: { type: "boolean" }, ks: { type: "string", default: "10,30,60,100" }, limit: { type: "string", default: "10" },
    queries: { type: "string", default: "50" }, threads: { type: "string", default: "1" }, store: { type: "string", default: "lance" },
  },
});
if (!values.model || !values.reranker) throw new Error("usage: bench_rerank.mjs --model EMB.gguf --reranker RR.gguf [--repo DIR] (see the header)");
const dist = path.join(root, "node", "dist", "src");
const { Embedder } = await import(path.join(dist, "index.js"));
const { indexRepository } = await import(path.join(dist, "search", "indexer.js"));
const { LanceStore } = await import(path.join(dist, "search", "lance-store.js"));
const { FileStore } = await import(path.join(dist, "search", "store.js"));
const { searchCode, searchCodeReranked } = await import(path.join(dist, "search", "search.js"));

const repo = path.resolve(values.repo ?? root);
const base = values.dir ? path.resolve(values.dir) : mkdtempSync(path.join(os.tmpdir(), "bench-rerank-"));
const limit = Number(values.limit);
const ks = values.ks.split(",").map(Number);
const threads = Number(values.threads);
const bin = path.join(root, "build", "ggembed");

/** CPU milliseconds (user + system) a process has used so far, from /proc/PID/stat. */
function cpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}

/** Queries: the first words of comment lines of the repository's sources, a fixed stride apart. */
function queries(n) {
  const lines = [];
  const walk = (d) => {
    for (const ent of readdirSync(d, { withFileTypes: true })) {
      if (ent.name.startsWith(".") || ent.name === "node_modules" || ent.name === "build" || ent.name === "dist") continue;
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (/\.(c|h|ts)$/.test(ent.name))
        for (const l of readFileSync(p, "utf8").split("\n")) {
          const m = /^\s*(?:\/\/|\/?\*+)\s+(.*)$/.exec(l);
          const words = m?.[1].split(/\s+/).filter((w) => /^[A-Za-z][a-z]*[,.]?$/.test(w)) ?? [];
          if (words.length >= 3) lines.push(words.slice(0, 8).join(" "));
        }
    }
  };
  walk(path.join(repo, "src"));
  walk(path.join(repo, "node", "src"));
  const stride = Math.max(1, Math.floor(lines.length / n));
  return Array.from({ length: Math.min(n, lines.length) }, (_, i) => lines[i * stride]);
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const e = await Embedder.start({ model: values.model, binary: bin, threads, healthIntervalMs: 0 });
const rr = await Embedder.start({ model: values.reranker, binary: bin, threads, healthIntervalMs: 0 });
const dir = path.join(base, "index");
const store = values.store === "file" ? await FileStore.open(dir) : await LanceStore.open(dir);
try {
  if (!values.reuse || !existsSync(path.join(base, "done"))) {
    await store.setMeta({ model: "bench", dims: e.info().dims });
    const t0 = performance.now();
    const r = await indexRepository(repo, e, store, { maxTokens: Math.min(e.info().context ?? 512, 512) });
    if (store.optimize) await store.optimize();
    console.log(`indexed ${repo}: ${r.walk.files} files, ${r.chunks} chunks, ${r.errors.length} errors, ${f((performance.now() - t0) / 1000)} s`);
    writeFileSync(path.join(base, "done"), "");
  }
  const counts = await store.counts();
  const qs = queries(Number(values.queries));
  console.log(`bench_rerank: ${machine()}`);
  console.log(
    `${counts.chunks} chunks of ${repo} in ${values.store}; model ${path.basename(values.model)}, reranker ${path.basename(values.reranker)} ` +
      `(context ${rr.info().context}), ${threads} thread(s) each; ${qs.length} queries, limit ${limit}`,
  );
  // one warm-up pass of each, then the variants in turn per query, so that the machine's load falls on all alike
  const variants = [{ name: "hybrid (no reranker)", run: (q) => searchCode(repo, store, e, q, { limit }) }];
  for (const k of ks)
    variants.push({ name: `reranker, K = ${k}`, k, run: (q) => searchCodeReranked(repo, store, e, q, { limit }, { reranker: rr, candidates: k }) });
  for (const v of variants) await v.run(at(qs, 0));
  const stats = variants.map(() => ({ wall: [], embCpu: 0, rrCpu: 0, storeCpu: 0, nodeCpu: 0, rerankMs: [] }));
  const storePid = store.engine?.pid;
  for (const q of qs) {
    for (const [i, v] of variants.entries()) {
      const s = stats[i];
      const c0 = [cpuMs(e.pid), cpuMs(rr.pid), cpuMs(storePid)];
      const n0 = process.cpuUsage();
      const t0 = performance.now();
      const out = await v.run(q);
      s.wall.push(performance.now() - t0);
      const n1 = process.cpuUsage(n0);
      s.nodeCpu += (n1.user + n1.system) / 1000;
      s.embCpu += cpuMs(e.pid) - c0[0];
      s.rrCpu += cpuMs(rr.pid) - c0[1];
      s.storeCpu += cpuMs(storePid) - c0[2];
      if (out.reranker) {
        if (!out.reranker.used) throw new Error(`not reranked: ${out.reranker.reason}`);
        s.rerankMs.push(out.reranker.ms);
      }
    }
  }
  table(
    ["search_code", "p50 ms", "p99 ms", "rerank p50 ms", "CPU ms/query: Node", "store", "embedder", "reranker"],
    variants.map((v, i) => {
      const s = stats[i];
      return [
        v.name,
        f(pct(s.wall, 50)),
        f(pct(s.wall, 99)),
        s.rerankMs.length ? f(pct(s.rerankMs, 50)) : "-",
        f(s.nodeCpu / qs.length),
        f(s.storeCpu / qs.length),
        f(s.embCpu / qs.length),
        f(s.rrCpu / qs.length),
      ];
    }),
  );
} finally {
  await store.close();
  await e.close();
  await rr.close();
  if (!values.dir) rmSync(base, { recursive: true, force: true });
}

function at(a, i) {
  return a[i];
}
