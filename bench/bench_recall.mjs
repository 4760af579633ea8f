#!/usr/bin/env node
// bench_recall.mjs - the code search store's vector index (IVF-PQ, the
// parameters of vectorIndexOptions() in node/src/search/lance.ts): its build
// time (wall and CPU) and its recall against exact search, with the store's
// query settings (VECTOR_QUERY: partitions probed, re-ranking by the full
// vectors), side by side with variants of those parameters.
//
//   node bench/bench_recall.mjs [--rows 200000] [--dims 384] [--queries 200]
//        [--variants "numBits=8;numBits=4,numSubVectors=96"] [--dir DIR] [--keep]
//
// The vectors are clustered as embeddings of a code base are: --rows / 20
// sub-centres spread around --rows / 200 centres, each vector a sub-centre
// plus noise of about its own size, so a query (a fresh vector drawn the same
// way) has ~20 near neighbours and many at a distance. Seeded: every run and
// every variant has the same vectors and queries. (bench_search.mjs's vectors
// are independent random directions: all but a query's own chunk are about
// equally far from it, so recall past the first result means nothing there.)
// recall@1: the exact nearest vector is the index's first; recall@10: the
// share of the exact 10 nearest the index returns in its 10.
// Needs node/ installed (`npm install --no-save`) and built (`npm run build`).
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { f, machine, root, table } from "./bench_common.mjs";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "200000" },
    dims: { type: "string", default: "384" },
    queries: { type: "string", default: "200" },
    variants: { type: "string", default: "numBits=8" },
    dir: { type: "string" },
    keep: { type: "boolean" },
  },
});
const N = Number(values.rows);
const D = Number(values.dims);
const NQ = Number(values.queries);
const K = 10;
const requireNode = createRequire(path.join(root, "node", "package.json"));
const lance = await import(pathToFileURL(requireNode.resolve("@lancedb/lancedb")).href);
const arrow = await import(pathToFileURL(requireNode.resolve("apache-arrow")).href);
const { vectorIndexOptions, VECTOR_QUERY } = await import(path.join(root, "node", "dist", "src", "search", "lance.js"));

let seed = 4242;
const rnd = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
};
const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
function unit(v) {
  let s = 0;
  for (const x of v) s += x * x;
  s = Math.sqrt(s);
  for (let i = 0; i < v.length; i++) v[i] /= s;
  return v;
}
/** c plus a random offset of length ~spread */
const near = (c, spread) => unit(Float32Array.from(c, (x) => x + (spread * gauss()) / Math.sqrt(D)));
const centres = Array.from({ length: Math.max(1, Math.round(N / 200)) }, () => unit(Float32Array.from({ length: D }, gauss)));
const subs = centres.flatMap((c) => Array.from({ length: 10 }, () => near(c, 0.8)));
const draw = () => near(subs[Math.floor(rnd() * subs.length)], 0.7);

const base = values.dir ?? mkdtempSync(path.join(os.tmpdir(), "ggembed-bench-recall-"));
const db = await lance.connect(base);
const schema = new arrow.Schema([
  new arrow.Field("id", new arrow.Int32(), false),
  new arrow.Field("vector", new arrow.FixedSizeList(D, new arrow.Field("item", new arrow.Float32(), true)), false),
]);
const tbl = await db.createEmptyTable("vectors", schema, { mode: "overwrite" });
const BATCH = 20_000;
for (let s = 0; s < N; s += BATCH) {
  const m = Math.min(BATCH, N - s);
  const flat = new Float32Array(m * D);
  for (let i = 0; i < m; i++) flat.set(draw(), i * D);
  const ids = arrow.makeData({ type: new arrow.Int32(), length: m, data: Int32Array.from({ length: m }, (_, i) => s + i) });
  const vec = arrow.makeData({
    type: schema.fields[1].type,
    length: m,
    nullCount: 0,
    child: arrow.makeData({ type: new arrow.Float32(), length: m * D, data: flat }),
  });
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: m, nullCount: 0, children: [ids, vec] });
  await tbl.add(new arrow.Table(schema, [new arrow.RecordBatch(schema, struct)]));
}
const queries = Array.from({ length: NQ }, () => Array.from(draw()));

const search = (q) => tbl.vectorSearch(q).distanceType("cosine").select(["id"]).limit(K);
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const exact = [];
const exactMs = [];
for (const q of queries) {
  const t = performance.now();
  exact.push((await search(q).bypassVectorIndex().toArray()).map((r) => r.id));
  exactMs.push(performance.now() - t);
}

const rows = [["exact search", "-", "-", "1.000", "1.000", f(pct(exactMs, 50), 1), f(pct(exactMs, 99), 1)]];
const variants = ["", ...values.variants.split(";").filter(Boolean)];
for (const v of variants) {
  const over = Object.fromEntries(v.split(",").filter(Boolean).map((kv) => kv.split("=")).map(([k, x]) => [k, Number(x)]));
  const options = { ...vectorIndexOptions(N, D), ...over };
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await tbl.createIndex("vector", { replace: true, config: lance.Index.ivfPq(options) });
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  let r1 = 0;
  let r10 = 0;
  const ms = [];
  for (const [i, q] of queries.entries()) {
    const t = performance.now();
    const got = (
      await search(q).maximumNprobes(VECTOR_QUERY.nprobes).minimumNprobes(VECTOR_QUERY.nprobes).refineFactor(VECTOR_QUERY.refineFactor).toArray()
    ).map((r) => r.id);
    ms.push(performance.now() - t);
    if (got[0] === exact[i][0]) r1++;
    const s = new Set(got);
    r10 += exact[i].filter((id) => s.has(id)).length / K;
  }
  const { distanceType, ...shown } = options;
  rows.push([
    `${v ? `store's, ${v}` : "the store's"}: ${Object.entries(shown).map(([k, x]) => `${k} ${x}`).join(", ")}`,
    f(wall, 1),
    f((c.user + c.system) / 1e6, 1),
    f(r1 / NQ, 3),
    f(r10 / NQ, 3),
    f(pct(ms, 50), 1),
    f(pct(ms, 99), 1),
  ]);
  console.error(`bench_recall: ${rows.at(-1).join(" | ")}`);
}
console.log(`bench_recall: ${N.toLocaleString("en")} clustered vectors of ${D} dims, ${NQ} queries, top ${K}; queries probe ${VECTOR_QUERY.nprobes} partitions and re-rank ${VECTOR_QUERY.refineFactor}x by the full vectors`);
console.log(machine());
table(["vector index", "build s", "build CPU s", "recall@1", `recall@${K}`, "query p50 ms", "query p99 ms"], rows);
tbl.close();
db.close();
if (!values.keep) rmSync(base, { recursive: true, force: true });
