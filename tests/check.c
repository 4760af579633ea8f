/*
 * check.c - counting and reporting for check.h.
 */
#include "check.h"

#include "ggembed.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int check_passed, check_failed;

void check_report(bool ok, const char *file, int line, const char *fmt, ...) {
    if (ok) {
        check_passed++;
        return;
    }
    check_failed++;
    if (check_failed > 200) return; /* the count still tells */
    fprintf(stderr, "%s:%d: check failed: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int check_done(const char *test_name) {
    printf("%s: %d checks passed, %d failed\n", test_name, check_passed, check_failed);
    if (check_passed == 0 && check_failed == 0) {
        printf("%s: no check ran\n", test_name);
        return 1;
    }
    return check_failed ? 1 : 0;
}

/* Under wine the test directories arrive as Unix paths ("/home/..."),
 * which a Windows program would take as relative to its current drive.
 * Wine maps the whole Unix tree to drive Z:, so "Z:/home/..." names the
 * same file wherever the program runs. Native Windows paths ("C:/...")
 * are left alone. */
static const char *native_dir(const char *d, char *buf, size_t n) {
#if defined(_WIN32)
    if (d[0] == '/' && d[1] != '/' && strlen(d) + 3 <= n) {
        snprintf(buf, n, "Z:%s", d);
        return buf;
    }
#else
    (void)buf;
    (void)n;
#endif
    return d;
}

const char *check_fixtures_dir(void) {
    static char buf[4096];
    const char *d = getenv("GGEMBED_FIXTURES");
    return native_dir(d && *d ? d : "../shared/fixtures/vocab", buf, sizeof buf);
}

const char *check_tmp_dir(void) {
    static char buf[4096];
    const char *d = getenv("GGEMBED_TEST_TMP");
    return native_dir(d && *d ? d : ".", buf, sizeof buf);
}

uint8_t *check_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    uint8_t *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        *size = (size_t)n;
    }
    return buf;
}

int check_mkmodel(const char *args, const char *out) {
    const char *bin = getenv("GGEMBED_BIN");
    if (!bin || !*bin) bin = "ggembed";
    /* Its stderr goes to a file next to the model, shown when it fails: a
     * failure names what mkmodel said, not only its status. */
    char errpath[4200], cmd[16384];
    snprintf(errpath, sizeof errpath, "%s.mkmodel-err", out);
#ifdef _WIN32
    snprintf(cmd, sizeof cmd, "\"\"%s\" mkmodel %s -o \"%s\" 2> \"%s\"\"", bin, args, out, errpath);
#else
    snprintf(cmd, sizeof cmd, "\"%s\" mkmodel %s -o \"%s\" 2> \"%s\"", bin, args, out, errpath);
#endif
    int rc = system(cmd);
    if (rc != 0) {
        size_t n = 0;
        uint8_t *said = check_read_file(errpath, &n);
        while (said && n > 0 && (said[n - 1] == '\n' || said[n - 1] == '\r')) said[--n] = 0;
        CHECKF(0, "%s mkmodel %s: status %d: %s", bin, args, rc,
               said && n ? (const char *)said : "(it printed nothing; is GGEMBED_BIN right?)");
        free(said);
    }
    remove(errpath);
    return rc;
}

ggembed_model *check_open_model(const char *path, int threads, int max_batch) {
    ggembed_options o;
    ggembed_options_default(&o);
    o.n_threads = threads;
    o.max_batch_tokens = max_batch;
    ggembed_model *m = NULL;
    char err[GGEMBED_ERR_LEN] = "";
    ggembed_status st = ggembed_open(path, &o, &m, err, sizeof err);
    CHECKF(st == GGEMBED_OK && m, "open %s: %s: %s", path, ggembed_status_name(st), err);
    return st == GGEMBED_OK ? m : NULL;
}
