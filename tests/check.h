/*
 * check.h - the few macros the C tests use. A failed check prints where
 * and why and is counted; the test goes on, so one run shows every
 * failure. check_done() prints the totals and gives the exit status.
 */
#ifndef GG_CHECK_H
#define GG_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

extern int check_passed, check_failed;

void check_report(bool ok, const char *file, int line, const char *fmt, ...) GG_PRINTF(4, 5);
int check_done(const char *test_name);

/* Directory of ../shared/fixtures/vocab (from GGEMBED_FIXTURES), and a
 * scratch directory for files the tests write (GGEMBED_TEST_TMP). */
const char *check_fixtures_dir(void);
const char *check_tmp_dir(void);
/* Runs `$GGEMBED_BIN mkmodel ARGS -o OUT` (stderr discarded); a failure is a
 * failed check naming the arguments. Returns the command's status. */
int check_mkmodel(const char *args, const char *out);
/* Opens a model with these threads and batch budget (0: the default); a
 * failure is a failed check naming the file and the error. NULL then. */
struct ggembed_model;
struct ggembed_model *check_open_model(const char *path, int threads, int max_batch);
/* Reads a whole file; caller frees. NULL when it cannot. */
uint8_t *check_read_file(const char *path, size_t *size);

#define CHECK(cond) check_report((cond), __FILE__, __LINE__, "%s", #cond)
#define CHECKF(cond, ...) check_report((cond), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_EQ_INT(a, b)                                                                        \
    do {                                                                                          \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                           \
        check_report(check_a_ == check_b_, __FILE__, __LINE__, "%s == %s (%lld vs %lld)", #a, #b, \
                     check_a_, check_b_);                                                         \
    } while (0)

#endif
