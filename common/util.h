/* util.h - small helpers without a better home: clocks, ids, whole-file reads.
 * UTF-8 lives in utf8.h (included here for the callers that still reach it
 * through this header). */
#ifndef PSY_UTIL_H
#define PSY_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "utf8.h"

double now_wall(void); /* seconds since the epoch */
double now_mono(void); /* seconds on the monotonic clock */
int64_t now_mono_ms(void);
/* A condition variable whose timed waits count on the monotonic clock (a
 * change of the wall clock cannot stretch or cut them). 0 or an errno. */
int cond_init_monotonic(pthread_cond_t *cv);
/* The monotonic time ms milliseconds from now: the deadline of a timed wait
 * on such a condition variable. */
void mono_deadline(struct timespec *ts, int ms);
/* "2026-11-27T17:50:59.123+00:00" (UTC, with the zone); out needs 40 bytes. */
void iso8601(double epoch, char *out, size_t outlen);
/* Parses what iso8601 writes (and "Z", other offsets). Returns 0 or -EINVAL. */
int iso8601_parse(const char *s, double *epoch);
/* Whole-string number parsing (what atoi/sscanf cannot report): s must be
 * a decimal number and nothing else. Returns 0 with *out set, -EINVAL when s is
 * empty or not a number, -ERANGE when it is outside [lo, hi]. */
int parse_ll(const char *s, long long lo, long long hi, long long *out);
int parse_int(const char *s, int lo, int hi, int *out);
int parse_double(const char *s, double *out);
/* Random version-4 UUID; out needs 37 bytes. */
void uuid4(char *out);
/* Reads a whole file; caller frees *out. Refuses files over max bytes (-EFBIG). */
int read_file_all(const char *path, size_t max, char **out, size_t *len);

#endif
