/* util.c - clocks, ids, whole-file reads. */
#include "util.h"

#include "buf.h"

#define MS_PER_SECOND 1000

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc) return rc;
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (!rc) rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

void mono_deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int64_t now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void iso8601(double epoch, char *out, size_t outlen)
{
    /* Round to the nearest millisecond: x.123 is stored as x.12299999..., and
     * truncating would lose one millisecond on every export/import trip. */
    long long total_ms = llround(epoch * MS_PER_SECOND);
    long long secs = total_ms / MS_PER_SECOND, ms = total_ms % MS_PER_SECOND;
    if (ms < 0) ms += MS_PER_SECOND, secs--; /* before 1970: floor, not towards zero */
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+00:00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
}

/* Reads 1..width decimal digits at *p into *out and moves *p past them, then
 * past `sep` when sep is not 0. Returns 0, or -EINVAL when the digits or the
 * separator are missing. */
static int take_digits(const char **p, int width, char sep, int *out)
{
    const char *q = *p;
    int v = 0, n = 0;
    while (n < width && *q >= '0' && *q <= '9') v = v * 10 + (*q++ - '0'), n++;
    if (!n || (sep && *q++ != sep)) return -EINVAL;
    *out = v;
    *p = q;
    return 0;
}

int iso8601_parse(const char *s, double *epoch)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, mo, d, h, mi;
    const char *z = s;
    if (take_digits(&z, 4, '-', &y) || take_digits(&z, 2, '-', &mo) || take_digits(&z, 2, 'T', &d) ||
        take_digits(&z, 2, ':', &h) || take_digits(&z, 2, ':', &mi))
        return -EINVAL;
    char *end;
    errno = 0;
    double sec = strtod(z, &end);
    if (end == z || errno) return -EINVAL;
    z = end;
    int off = 0;
    if (*z == 'Z' || *z == 'z') {
        z++;
    } else if (*z == '+' || *z == '-') {
        int sign = *z++ == '-' ? -1 : 1, oh, om;
        if (take_digits(&z, 2, ':', &oh) || take_digits(&z, 2, 0, &om)) return -EINVAL;
        off = (oh * 60 + om) * 60 * sign;
    }
    if (*z) return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = 0;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return -EINVAL;
    *epoch = (double)t + sec - off;
    return 0;
}

int parse_ll(const char *s, long long lo, long long hi, long long *out)
{
    if (!s || !*s) return -EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end) return -EINVAL;
    if (errno == ERANGE || v < lo || v > hi) return -ERANGE;
    *out = v;
    return 0;
}

int parse_int(const char *s, int lo, int hi, int *out)
{
    long long v;
    int rc = parse_ll(s, lo, hi, &v);
    if (!rc) *out = (int)v;
    return rc;
}

int parse_double(const char *s, double *out)
{
    if (!s || !*s) return -EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end) return -EINVAL;
    if (errno == ERANGE) return -ERANGE;
    *out = v;
    return 0;
}

void uuid4(char *out)
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* No entropy source: fall back to time and address bits; ids stay unique per process. */
        static unsigned long counter;
        unsigned long x = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16) ^ ++counter;
        for (int i = 0; i < 16; i++) b[i] = (unsigned char)(x >> ((i % 8) * 8)) ^ (unsigned char)(i * 37);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}


int read_file_all(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return -EISDIR;
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return -EFBIG;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *p = malloc(cap);
    if (!p) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max + 1) {
                free(p);
                close(fd);
                return -EFBIG;
            }
            char *q = realloc(p, cap * 2);
            if (!q) {
                free(p);
                close(fd);
                return -ENOMEM;
            }
            p = q, cap *= 2;
        }
        ssize_t r = read(fd, p + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(p);
            close(fd);
            return -e;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (n > max) {
        free(p);
        return -EFBIG;
    }
    p[n] = '\0';
    *out = p;
    if (len) *len = n;
    return 0;
}
