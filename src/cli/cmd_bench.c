/*
 * cmd_bench.c - `ggembed bench -m MODEL [options]`: in-process timing of
 * ggembed_embed and the process's memory while it runs.
 *
 * Texts are generated from a fixed list of plain English words with a
 * seeded generator, one different text per index, grown word by word
 * until ggembed_tokenize (specials included) says they hold about
 * --tokens tokens; the measured counts are reported. Batch size B embeds
 * texts 0..B-1 in one ggembed_embed call, repeated.
 *
 * Reported: the load time (ggembed_open) and the first embedding (one
 * text, right after the open: the cold start, when the weights are first
 * read through the mapping), then per batch size texts/s, ms per text and
 * tokens/s, and the peak anonymous (RssAnon) and file-backed (RssFile)
 * resident memory seen during that batch size.
 *
 * Peak memory, honestly: Linux keeps a high-water mark of the whole
 * resident set (VmHWM) but none of RssAnon or RssFile alone. So a
 * background thread reads /proc/self/status every --sample-ms
 * milliseconds, and the command also reads it right after the open and
 * after every ggembed_embed call; the peaks are the maxima of those
 * readings. The engine allocates its working memory once at open and
 * keeps it, so anonymous memory does not fall between the readings; only
 * an allocation made and freed within one sampling interval could be
 * missed. VmHWM is printed too: an upper bound of RssAnon + RssFile.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ggembed.h"
#include "platform/platform.h"

#define MAX_BATCHES 16
#define AUTO_SECONDS 3.0 /* --repeat auto: time each batch size for about this long */
#define AUTO_MAX_REPEAT 50

/* ---- memory sampling ---- */

typedef struct mem_sampler {
    gg_mutex *lock;
    gg_cond *wake;
    gg_thread *thread;
    bool stop;
    int interval_ms;
    uint64_t peak_anon, peak_file; /* since the last mem_phase_reset */
    uint64_t all_anon, all_file;   /* since the start */
    uint64_t n_samples;
} mem_sampler;

static void mem_sample(mem_sampler *s) {
    gg_mem_usage u;
    gg_mem_usage_get(&u);
    if (s->lock) gg_mutex_lock(s->lock);
    s->peak_anon = GG_MAX(s->peak_anon, u.rss_anon);
    s->peak_file = GG_MAX(s->peak_file, u.rss_file);
    s->all_anon = GG_MAX(s->all_anon, u.rss_anon);
    s->all_file = GG_MAX(s->all_file, u.rss_file);
    s->n_samples++;
    if (s->lock) gg_mutex_unlock(s->lock);
}

static void mem_thread(void *arg) {
    mem_sampler *s = arg;
    gg_mutex_lock(s->lock);
    while (!s->stop) {
        gg_mutex_unlock(s->lock);
        mem_sample(s);
        gg_mutex_lock(s->lock);
        if (!s->stop) gg_cond_timedwait(s->wake, s->lock, (int64_t)s->interval_ms * 1000000);
    }
    gg_mutex_unlock(s->lock);
}

static void mem_start(mem_sampler *s, int interval_ms) {
    memset(s, 0, sizeof *s);
    s->interval_ms = interval_ms;
    mem_sample(s);
    if (interval_ms <= 0) return;
    s->lock = gg_mutex_new();
    s->wake = gg_cond_new();
    gg_err e;
    if (s->lock && s->wake) s->thread = gg_thread_start(mem_thread, s, &e);
    if (!s->thread)
        fprintf(stderr, "ggembed bench: no sampling thread; memory read at call boundaries only\n");
}

static void mem_stop(mem_sampler *s) {
    if (s->thread) {
        gg_mutex_lock(s->lock);
        s->stop = true;
        gg_cond_signal(s->wake);
        gg_mutex_unlock(s->lock);
        gg_thread_join(s->thread);
        s->thread = NULL;
    }
    mem_sample(s);
    if (s->wake) gg_cond_free(s->wake);
    if (s->lock) gg_mutex_free(s->lock);
    s->wake = NULL;
    s->lock = NULL;
}

/* Starts a new phase: its peaks begin at the current reading. */
static void mem_phase_reset(mem_sampler *s) {
    gg_mem_usage u;
    gg_mem_usage_get(&u);
    if (s->lock) gg_mutex_lock(s->lock);
    s->peak_anon = u.rss_anon;
    s->peak_file = u.rss_file;
    if (s->lock) gg_mutex_unlock(s->lock);
}

static void mem_phase_peaks(mem_sampler *s, uint64_t *anon, uint64_t *file) {
    mem_sample(s);
    if (s->lock) gg_mutex_lock(s->lock);
    *anon = s->peak_anon;
    *file = s->peak_file;
    if (s->lock) gg_mutex_unlock(s->lock);
}

/* ---- texts ---- */

static const char *const words[] = {
    "the",     "of",       "and",     "to",      "in",       "is",      "that",    "for",     "it",
    "as",      "was",      "with",    "be",      "by",       "on",      "not",     "he",      "this",
    "are",     "or",       "his",     "from",    "at",       "which",   "but",     "have",    "an",
    "had",     "they",     "you",     "were",    "their",    "one",     "all",     "we",      "can",
    "her",     "has",      "there",   "been",    "if",       "more",    "when",    "will",    "would",
    "who",     "so",       "no",      "time",    "people",   "year",    "water",   "system",  "number",
    "world",   "house",    "model",   "river",   "city",     "music",   "paper",   "garden",  "window",
    "market",  "language", "country", "history", "question", "answer",  "memory",  "program", "function",
    "value",   "result",   "table",   "engine",  "signal",   "network", "morning", "evening", "winter",
    "summer",  "mountain", "forest",  "ocean",   "island",   "bridge",  "station", "library", "student",
    "teacher", "doctor",   "friend",  "family",  "company",  "science", "energy",  "picture", "story",
    "letter",  "window",   "simple",  "quick",   "small",    "large",   "bright",  "quiet",   "heavy",
    "early",   "late",     "green",   "blue",    "red",      "old",     "new",     "good",    "long",
    "short",   "strong",   "read",    "write",   "build",    "find",    "open",    "close",   "carry",
    "follow",  "measure",  "compare", "explain", "remember", "travel",  "gather",  "sort",    "parse",
    "compute", "render",   "store",   "send",    "receive",  "between", "under",   "over",    "through",
    "during",  "without",  "before",  "after",   "around",   "against", "because",
};

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int count_tokens(ggembed_model *m, const char *s, size_t len, int32_t *ids, size_t cap) {
    size_t n = 0;
    char err[GGEMBED_ERR_LEN];
    if (ggembed_tokenize(m, s, len, 1, ids, cap, &n, err, sizeof err) != GGEMBED_OK) {
        fprintf(stderr, "ggembed bench: %s\n", err);
        return -1;
    }
    return (int)GG_MIN(n, (size_t)INT32_MAX);
}

/* Text `index`: words added until it has at least `target` tokens
 * (specials included) but no more than `limit`. malloc'd; *n_tok gets the
 * count. */
static char *make_text(ggembed_model *m, int index, int target, int limit, size_t *len, int *n_tok) {
    const size_t n_words = sizeof words / sizeof words[0];
    size_t cap = 256, used = 0;
    char *s = malloc(cap);
    int32_t *ids = malloc(sizeof(int32_t) * ((size_t)limit + 64));
    uint64_t rng = 0x5EED0000ULL + (uint64_t)index;
    int n = 0, since_period = 0;
    if (!s || !ids) goto fail;
    s[0] = '\0';
    n = count_tokens(m, s, 0, ids, (size_t)limit + 64);
    while (n >= 0 && n < target) {
        const char *w = words[rng_next(&rng) % n_words];
        char piece[64];
        bool end = since_period > 6 && rng_next(&rng) % 8 == 0;
        int plen = snprintf(piece, sizeof piece, "%s%s%s", used ? " " : "", w, end ? "." : "");
        since_period = end ? 0 : since_period + 1;
        if (used == 0 && piece[0] >= 'a' && piece[0] <= 'z') piece[0] = (char)(piece[0] - 'a' + 'A');
        if (used + (size_t)plen + 1 > cap) {
            char *t = realloc(s, cap * 2 + (size_t)plen);
            if (!t) goto fail;
            s = t;
            cap = cap * 2 + (size_t)plen;
        }
        memcpy(s + used, piece, (size_t)plen + 1);
        int n2 = count_tokens(m, s, used + (size_t)plen, ids, (size_t)limit + 64);
        if (n2 < 0) goto fail;
        if (n2 > limit) { /* the last word went past the context: stop before it */
            s[used] = '\0';
            break;
        }
        used += (size_t)plen;
        n = n2;
    }
    if (n < 0) goto fail;
    free(ids);
    *len = used;
    *n_tok = n;
    return s;
fail:
    free(ids);
    free(s);
    return NULL;
}

/* ---- options ---- */

typedef struct bench_args {
    const char *model;
    const char *dump_texts;
    int threads;
    int batch_tokens;
    int batches[MAX_BATCHES];
    int n_batches;
    int tokens;
    int repeat; /* 0: auto */
    int sample_ms;
    bool json;
} bench_args;

static void usage(FILE *out) {
    fprintf(
        out,
        "usage: ggembed bench -m MODEL [options]\n"
        "Times ggembed_embed on generated texts and reports speed and memory.\n"
        "  -m, --model FILE       GGUF model\n"
        "  --threads N            threads (default: all CPUs)\n"
        "  --batch-texts LIST     texts per ggembed_embed call, comma-separated (default 1,10,100;\n"
        "                         none: only the load and the first embedding)\n"
        "  --tokens N             tokens per text, specials included (default 60; at most the context)\n"
        "  --repeat R             timed calls per batch size (default: auto, about %.0f s each)\n"
        "  --batch-tokens N       tokens per forward pass (default: the engine's)\n"
        "  --sample-ms N          memory sampling interval (default 5; 0: only at call boundaries)\n"
        "  --dump-texts FILE      also write the generated texts, one JSON string per line\n"
        "  --json                 one JSON object instead of a table\n"
        "Memory: RssAnon and RssFile from /proc/self/status, sampled (the kernel keeps no\n"
        "peak of either); VmHWM is the kernel's peak of their sum.\n",
        AUTO_SECONDS);
}

static int parse_list(const char *val, bench_args *a) {
    a->n_batches = 0;
    if (!strcmp(val, "none")) return 0; /* the load and the first embedding only */
    const char *p = val;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 100000 || (*end && *end != ',') || a->n_batches == MAX_BATCHES) {
            fprintf(stderr,
                    "ggembed bench: --batch-texts wants up to %d comma-separated counts in "
                    "1..100000, not '%s'\n",
                    MAX_BATCHES, val);
            return -1;
        }
        a->batches[a->n_batches++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (!a->n_batches) {
        fprintf(stderr, "ggembed bench: --batch-texts is empty\n");
        return -1;
    }
    return 0;
}

static int parse(bench_args *a, int argc, char **argv) {
    long v;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(o, "--json")) {
            a->json = true;
            continue;
        }
        if (!val) {
            fprintf(stderr, "ggembed bench: %s needs a value\n", o);
            return -1;
        }
        i++;
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) a->model = val;
        else if (!strcmp(o, "--dump-texts")) a->dump_texts = val;
        else if (!strcmp(o, "--batch-texts")) {
            if (parse_list(val, a)) return -1;
        } else if (!strcmp(o, "--threads")) {
            if (!cli_parse_int(o, val, 1, 1024, &v)) return -1;
            a->threads = (int)v;
        } else if (!strcmp(o, "--tokens")) {
            if (!cli_parse_int(o, val, 1, 1 << 20, &v)) return -1;
            a->tokens = (int)v;
        } else if (!strcmp(o, "--repeat")) {
            if (!cli_parse_int(o, val, 1, 1000000, &v)) return -1;
            a->repeat = (int)v;
        } else if (!strcmp(o, "--batch-tokens")) {
            if (!cli_parse_int(o, val, 1, 1 << 20, &v)) return -1;
            a->batch_tokens = (int)v;
        } else if (!strcmp(o, "--sample-ms")) {
            if (!cli_parse_int(o, val, 0, 60000, &v)) return -1;
            a->sample_ms = (int)v;
        } else {
            fprintf(stderr, "ggembed bench: unknown option '%s'\n", o);
            return -1;
        }
    }
    if (!a->model) {
        fprintf(stderr, "ggembed bench: -m MODEL is required\n");
        return -1;
    }
    return 0;
}

/* ---- the run ---- */

typedef struct batch_result {
    int texts, repeat;
    double tokens_per_text, seconds;
    double cpu_seconds; /* process CPU time (clock(): all threads on POSIX) */
    uint64_t peak_anon, peak_file;
} batch_result;

typedef struct bench_run {
    const ggembed_info *info;
    uint64_t base_anon, base_file; /* before the open */
    uint64_t open_anon, open_file; /* right after the open */
    double load_ms, first_ms, cold_ms, first_cpu_ms;
    int first_tokens;
    uint64_t first_anon, first_file; /* peaks during the first embedding */
    double text_tokens;              /* mean tokens of the generated texts */
    int min_tokens, max_tokens;
    batch_result b[MAX_BATCHES];
    uint64_t peak_anon, peak_file, vm_hwm, n_samples;
} bench_run;

static double ms_since(int64_t t0) { return (double)(gg_now_ns() - t0) / 1e6; }
static double mb(uint64_t bytes) { return (double)bytes / 1048576.0; }

static int write_texts(const char *path, ggembed_text *texts, int n) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "ggembed bench: cannot write %s\n", path);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        cli_json_string(f, texts[i].text, texts[i].len);
        fputc('\n', f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static void report_text(const bench_args *a, const bench_run *r) {
    const ggembed_info *in = r->info;
    printf("model:              %s (%s, %d dims, %d layers)\n", a->model, in->arch, in->n_embd,
           in->n_layer);
    printf("threads:            %d (%s kernels), batch of %d tokens\n", in->n_threads, in->simd,
           in->max_batch_tokens);
    printf("texts:              %.1f tokens on average (%d..%d, specials included)\n", r->text_tokens,
           r->min_tokens, r->max_tokens);
    printf("working memory:     %.2f MB; tokenizer %.2f MB\n", mb(in->working_memory),
           mb(in->tokenizer_memory));
    printf("load:               %.1f ms (ggembed_open)\n", r->load_ms);
    printf(
        "first embedding:    %.1f ms, %.1f CPU ms (%d tokens; cold start %.1f ms after the command started)\n",
        r->first_ms, r->first_cpu_ms, r->first_tokens, r->cold_ms);
    printf(
        "RssAnon:            %.1f MB before open, %.1f MB after open, %.1f MB peak in first embedding\n",
        mb(r->base_anon), mb(r->open_anon), mb(r->first_anon));
    printf("\n%8s %7s %10s %10s %11s %11s %13s %13s\n", "texts", "calls", "texts/s", "ms/text",
           "CPU ms/text", "tokens/s", "peak anon MB", "peak file MB");
    for (int i = 0; i < a->n_batches; i++) {
        const batch_result *b = &r->b[i];
        double per_call = b->seconds / b->repeat;
        printf("%8d %7d %10.2f %10.2f %11.2f %11.0f %13.1f %13.1f\n", b->texts, b->repeat,
               b->texts / per_call, per_call * 1000.0 / b->texts,
               b->cpu_seconds * 1000.0 / b->repeat / b->texts, b->texts * b->tokens_per_text / per_call,
               mb(b->peak_anon), mb(b->peak_file));
    }
    printf("\npeak RssAnon %.1f MB, peak RssFile %.1f MB (sampled %" PRIu64 " times, every %d ms and at "
           "each call); VmHWM %.1f MB\n",
           mb(r->peak_anon), mb(r->peak_file), r->n_samples, a->sample_ms, mb(r->vm_hwm));
}

static void report_json(const bench_args *a, const bench_run *r) {
    const ggembed_info *in = r->info;
    printf("{\"model\":");
    cli_json_string(stdout, a->model, strlen(a->model));
    printf(",\"arch\":");
    cli_json_string(stdout, in->arch, strlen(in->arch));
    printf(
        ",\"n_embd\":%d,\"n_layer\":%d,\"threads\":%d,\"simd\":\"%s\",\"max_batch_tokens\":%d"
        ",\"file_size\":%" PRIu64 ",\"working_memory\":%zu,\"tokenizer_memory\":%zu"
        ",\"tokens_target\":%d,\"tokens_mean\":%.2f,\"tokens_min\":%d,\"tokens_max\":%d"
        ",\"load_ms\":%.3f,\"first_embed_ms\":%.3f,\"first_embed_cpu_ms\":%.3f,\"first_embed_tokens\":%d,\"cold_start_ms\":%.3f"
        ",\"rss_anon_before_open\":%" PRIu64 ",\"rss_file_before_open\":%" PRIu64
        ",\"rss_anon_after_open\":%" PRIu64 ",\"rss_file_after_open\":%" PRIu64
        ",\"first_embed_peak_rss_anon\":%" PRIu64 ",\"first_embed_peak_rss_file\":%" PRIu64
        ",\"batches\":[",
        in->n_embd, in->n_layer, in->n_threads, in->simd, in->max_batch_tokens, in->file_size,
        in->working_memory, in->tokenizer_memory, a->tokens, r->text_tokens, r->min_tokens,
        r->max_tokens, r->load_ms, r->first_ms, r->first_cpu_ms, r->first_tokens, r->cold_ms,
        r->base_anon, r->base_file, r->open_anon, r->open_file, r->first_anon, r->first_file);
    for (int i = 0; i < a->n_batches; i++) {
        const batch_result *b = &r->b[i];
        double per_call = b->seconds / b->repeat;
        printf(
            "%s{\"texts\":%d,\"calls\":%d,\"seconds\":%.6f,\"tokens_per_text\":%.2f,\"texts_per_s\":%.4f"
            ",\"ms_per_text\":%.4f,\"tokens_per_s\":%.2f,\"peak_rss_anon\":%" PRIu64
            ",\"peak_rss_file\":%" PRIu64 ",\"cpu_ms_per_text\":%.4f}",
            i ? "," : "", b->texts, b->repeat, b->seconds, b->tokens_per_text, b->texts / per_call,
            per_call * 1000.0 / b->texts, b->texts * b->tokens_per_text / per_call, b->peak_anon,
            b->peak_file, b->cpu_seconds * 1000.0 / b->repeat / b->texts);
    }
    printf("],\"peak_rss_anon\":%" PRIu64 ",\"peak_rss_file\":%" PRIu64 ",\"vm_hwm\":%" PRIu64
           ",\"samples\":%" PRIu64 ",\"sample_ms\":%d}\n",
           r->peak_anon, r->peak_file, r->vm_hwm, r->n_samples, a->sample_ms);
}

static int embed_call(ggembed_model *m, const ggembed_text *texts, int n, float *out,
                      ggembed_result *res) {
    char err[GGEMBED_ERR_LEN];
    if (ggembed_embed(m, texts, (size_t)n, NULL, out, res, err, sizeof err) != GGEMBED_OK) {
        fprintf(stderr, "ggembed bench: %s\n", err);
        return -1;
    }
    return 0;
}

static int run(const bench_args *a, int64_t t_start, mem_sampler *ms, bench_run *r) {
    char err[GGEMBED_ERR_LEN];
    ggembed_options opt;
    ggembed_options_default(&opt);
    opt.n_threads = a->threads;
    opt.max_batch_tokens = a->batch_tokens;
    ggembed_model *m = NULL;
    int max_texts = 1;
    for (int i = 0; i < a->n_batches; i++) max_texts = GG_MAX(max_texts, a->batches[i]);
    ggembed_text *texts = calloc((size_t)max_texts, sizeof *texts);
    ggembed_result *res = calloc((size_t)max_texts, sizeof *res);
    float *out = NULL;
    int rc = -1;
    if (!texts || !res) goto done;

    int64_t t0 = gg_now_ns();
    if (ggembed_open(a->model, &opt, &m, err, sizeof err) != GGEMBED_OK) {
        fprintf(stderr, "ggembed bench: %s\n", err);
        goto done;
    }
    r->load_ms = ms_since(t0);
    r->info = ggembed_get_info(m);
    mem_phase_peaks(ms, &r->open_anon, &r->open_file);
    if (!r->info->has_weights) {
        fprintf(stderr, "ggembed bench: %s is a vocabulary-only file: nothing to time\n", a->model);
        goto done;
    }
    out = malloc(sizeof(float) * (size_t)r->info->n_embd * (size_t)max_texts);
    if (!out) goto done;

    /* The texts (tokenizing only: the weights are not read yet). */
    const int limit = r->info->n_ctx;
    const int target = GG_MIN(a->tokens, limit);
    if (target < a->tokens)
        fprintf(stderr, "ggembed bench: texts of %d tokens (the context), not %d\n", target, a->tokens);
    double sum = 0;
    r->min_tokens = INT32_MAX;
    for (int i = 0; i < max_texts; i++) {
        int n;
        char *s = make_text(m, i, target, limit, &texts[i].len, &n);
        if (!s) goto done;
        texts[i].text = s;
        sum += n;
        r->min_tokens = GG_MIN(r->min_tokens, n);
        r->max_tokens = GG_MAX(r->max_tokens, n);
    }
    r->text_tokens = sum / max_texts;
    if (a->dump_texts && write_texts(a->dump_texts, texts, max_texts)) goto done;

    /* Cold start: the first embedding after the open. */
    mem_phase_reset(ms);
    t0 = gg_now_ns();
    clock_t c0 = clock();
    if (embed_call(m, texts, 1, out, res)) goto done;
    r->first_ms = ms_since(t0);
    r->first_cpu_ms = (double)(clock() - c0) * 1000.0 / CLOCKS_PER_SEC;
    r->cold_ms = ms_since(t_start);
    r->first_tokens = res[0].n_tokens;
    mem_phase_peaks(ms, &r->first_anon, &r->first_file);

    for (int bi = 0; bi < a->n_batches; bi++) {
        batch_result *b = &r->b[bi];
        b->texts = a->batches[bi];
        mem_phase_reset(ms);
        int64_t tb = gg_now_ns();
        clock_t cb = clock();
        for (;;) {
            if (embed_call(m, texts, b->texts, out, res)) goto done;
            b->repeat++;
            mem_sample(ms);
            double el = (double)(gg_now_ns() - tb) / 1e9;
            if (a->repeat ? b->repeat >= a->repeat
                          : (el >= AUTO_SECONDS || b->repeat >= AUTO_MAX_REPEAT))
                break;
        }
        b->seconds = (double)(gg_now_ns() - tb) / 1e9;
        b->cpu_seconds = (double)(clock() - cb) / CLOCKS_PER_SEC;
        double tok = 0;
        for (int i = 0; i < b->texts; i++) tok += res[i].n_tokens;
        b->tokens_per_text = tok / b->texts;
        mem_phase_peaks(ms, &b->peak_anon, &b->peak_file);
        if (!a->json) {
            fprintf(stderr, "ggembed bench: %d texts: %d calls in %.2f s\n", b->texts, b->repeat,
                    b->seconds);
        }
    }
    rc = 0;
done:
    mem_stop(ms);
    r->peak_anon = ms->all_anon;
    r->peak_file = ms->all_file;
    r->n_samples = ms->n_samples;
    gg_mem_usage u;
    gg_mem_usage_get(&u);
    r->vm_hwm = u.peak_rss;
    if (rc == 0) {
        if (a->json) report_json(a, r);
        else report_text(a, r);
    }
    ggembed_close(m);
    for (int i = 0; texts && i < max_texts; i++) free((void *)texts[i].text);
    free(texts);
    free(res);
    free(out);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    int64_t t_start = gg_now_ns();
    bench_args a = {.tokens = 60, .sample_ms = 5, .n_batches = 3, .batches = {1, 10, 100}};
    if (parse(&a, argc, argv)) return 2;
    mem_sampler ms;
    mem_start(&ms, a.sample_ms);
    bench_run r;
    memset(&r, 0, sizeof r);
    gg_mem_usage u;
    gg_mem_usage_get(&u);
    r.base_anon = u.rss_anon;
    r.base_file = u.rss_file;
    int rc = run(&a, t_start, &ms, &r);
    return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
}
