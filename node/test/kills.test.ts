// External kills (kill -9 from outside) during many texts are no evidence
// against the texts in flight: no POISON, nothing lost or answered twice,
// every vector equal to an undisturbed run's. Bounded for CI; the full
// measurement (2,000 texts, 20 kills) runs with GGEMBED_KILL_TEXTS=2000
// GGEMBED_KILLS=20.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Embedder, type EmbedderError, type EmbedResult } from '../src/index.js';
import { alive, FAST, makeModel, requireBinary, texts, tmpDir, until } from './helpers.js';

const N = Number(process.env.GGEMBED_KILL_TEXTS ?? 400);
const KILLS = Number(process.env.GGEMBED_KILLS ?? 8);

let dir: string;
let model: string;
let bin: string;
before(() => {
  bin = requireBinary();
  dir = tmpDir();
  model = makeModel(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test(`${KILLS} kill -9 from outside during ${N} texts: 0 POISON, 0 lost, 0 duplicated, 0 changed vectors`, async () => {
  const corpus = texts(N, 'kill');
  const opts = { model, binary: bin, ...FAST, serveArgs: ['--max-texts', '8'] };
  const quiet = await Embedder.start(opts);
  let ref: EmbedResult[];
  try {
    ref = await quiet.embedBatch(corpus);
  } finally {
    await quiet.close();
  }

  const e = await Embedder.start({ ...opts, env: { GGEMBED_TEST_DELAY_MS: '2' } });
  try {
    const settled = new Array<number>(N).fill(0);
    const results = new Array<EmbedResult | Error>(N);
    // half single-text calls, half one batch: both kinds of request are in flight at a kill
    const half = N >> 1;
    const singles = corpus.slice(0, half).map((t, i) =>
      e.embed(t).then(
        (r) => {
          settled[i]!++;
          results[i] = r;
        },
        (err: Error) => {
          settled[i]!++;
          results[i] = err;
        },
      ),
    );
    const batch = e.embedBatch(corpus.slice(half)).then(
      (rs) =>
        rs.forEach((r, j) => {
          settled[half + j]!++;
          results[half + j] = r;
        }),
      (err: Error) => {
        for (let j = half; j < N; j++) {
          settled[j]!++;
          results[j] = err;
        }
      },
    );
    const done = Promise.all([...singles, batch]);
    let finished = false;
    void done.then(() => {
      finished = true;
    });

    // kill soon after each (re)start, so that re-sent requests are in flight when the next kill lands
    let kills = 0;
    for (; kills < KILLS && !finished; kills++) {
      const gap = 3 + ((kills * 7) % 17);
      await until(async () => finished || ((await e.stats()).server?.texts ?? 0) >= gap, 'the server to embed a few texts');
      if (finished) break;
      const pid = e.pid!;
      process.kill(pid, 'SIGKILL');
      await until(() => finished || (!alive(pid) && e.state === 'ready' && e.pid !== pid), 'the restart');
    }
    await done;
    await new Promise((r) => setTimeout(r, 100));

    let poison = 0;
    let lost = 0;
    let changed = 0;
    let maxDiff = 0;
    const why = new Set<string>();
    results.forEach((r, i) => {
      if (!r || r instanceof Error) {
        if ((r as EmbedderError | undefined)?.code === 'POISON') poison++;
        else lost++;
        why.add(r ? r.message : 'never answered');
        return;
      }
      if (r.error) {
        if (r.error.code === 'POISON') poison++;
        else lost++;
        why.add(r.error.message);
        return;
      }
      assert.equal(r.degraded, false, `text ${i} degraded`);
      const a = r.embedding;
      const b = ref[i]!.embedding;
      let d = a.length === b.length ? 0 : Infinity;
      for (let k = 0; k < a.length && d !== Infinity; k++) d = Math.max(d, Math.abs(a[k]! - b[k]!));
      maxDiff = Math.max(maxDiff, d);
      if (d > 1e-6) changed++;
    });
    const duplicated = settled.filter((n) => n > 1).length;
    process.stderr.write(
      `kills: ${kills} kills, ${N} texts: ${poison} POISON, ${lost} lost, ${duplicated} duplicated, ${changed} changed (max diff ${maxDiff}), replayed ${(await e.stats()).client.replayed}${why.size ? `; ${[...why].join(' | ')}` : ''}\n`,
    );
    assert.ok(kills >= Math.min(KILLS, 3), `only ${kills} kills landed before the texts were done`);
    assert.deepEqual({ poison, lost, duplicated, changed }, { poison: 0, lost: 0, duplicated: 0, changed: 0 });
    assert.equal(e.state, 'ready');
  } finally {
    await e.close();
  }
});
