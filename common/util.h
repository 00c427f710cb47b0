/* util.h - small helpers without a better home: clocks, ids, UTF-8. */
#ifndef PSY_UTIL_H
#define PSY_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

double now_wall(void);      /* seconds since the epoch */
double now_mono(void);      /* seconds on the monotonic clock */
int64_t now_mono_ms(void);
/* "2026-11-27T17:50:59.123+00:00" (UTC, with the zone); out needs 40 bytes. */
void iso8601(double epoch, char *out, size_t outlen);
/* Parses what iso8601 writes (and "Z", other offsets). Returns 0 or -EINVAL. */
int iso8601_parse(const char *s, double *epoch);
/* Random version-4 UUID; out needs 37 bytes. */
void uuid4(char *out);
/* Length of the longest prefix of s[0..n) that ends on a UTF-8 character boundary. */
size_t utf8_complete_prefix(const char *s, size_t n);
bool utf8_valid(const char *s, size_t n);
/* Appends s[0..n) to out as valid UTF-8: each invalid byte becomes U+FFFD.
 * Unless final, an incomplete sequence at the end is not consumed: the return
 * value is how many bytes were (the caller keeps the rest for next time). */
struct buf;
size_t utf8_sanitize_append(struct buf *out, const char *s, size_t n, bool final);
/* Reads a whole file; caller frees *out. Refuses files over max bytes (-EFBIG). */
int read_file_all(const char *path, size_t max, char **out, size_t *len);

#endif
