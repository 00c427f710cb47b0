/* log.c - leveled logging; one mutex so lines from the inference thread and
 * the protocol thread never interleave. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static log_level cur_level = LOG_INFO;
static char prog[32] = "psyche";
static int out_fd = 2;

static const char *names[] = {"DEBUG", "INFO", "NOTICE", "WARN", "ERROR", "OFF"};

int log_init(const char *name, log_level level, const char *file)
{
    int rc = 0;
    pthread_mutex_lock(&log_mu);
    snprintf(prog, sizeof prog, "%s", name ? name : "psyche");
    cur_level = level;
    if (out_fd > 2) close(out_fd);
    out_fd = 2;
    if (file && *file) {
        int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) rc = -errno;
        else out_fd = fd;
    }
    pthread_mutex_unlock(&log_mu);
    return rc;
}

void log_close(void)
{
    pthread_mutex_lock(&log_mu);
    if (out_fd > 2) close(out_fd);
    out_fd = 2;
    pthread_mutex_unlock(&log_mu);
}

void log_set_level(log_level level) { __atomic_store_n(&cur_level, level, __ATOMIC_RELAXED); }
log_level log_get_level(void) { return __atomic_load_n(&cur_level, __ATOMIC_RELAXED); }
int log_fd(void) { return out_fd; }
const char *log_level_name(log_level l) { return (unsigned)l <= LOG_OFF ? names[l] : "?"; }

int log_level_parse(const char *s, log_level *out)
{
    static const struct {
        const char *n;
        log_level l;
    } map[] = {
        {"debug", LOG_DEBUG},     {"info", LOG_INFO},   {"notice", LOG_NOTICE},  {"warn", LOG_WARN},
        {"warning", LOG_WARN},    {"error", LOG_ERROR}, {"critical", LOG_ERROR}, {"alert", LOG_ERROR},
        {"emergency", LOG_ERROR}, {"off", LOG_OFF},     {"none", LOG_OFF},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcasecmp(s, map[i].n) == 0) {
            *out = map[i].l;
            return 0;
        }
    return -EINVAL;
}

void log_msg(log_level level, const char *fmt, ...)
{
    if (level < log_get_level() || level >= LOG_OFF) return;
    char line[4096];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), prog, names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) {
        /* A log line is a diagnostic, not data: cut it on a character
         * boundary (a log stays valid UTF-8), but say so. */
        len = utf8_truncate_bytes(line, sizeof line - 2, sizeof line - 2 - 5);
        // NOLINTNEXTLINE(bugprone-not-null-terminated-result): written by length, never read as a string
        memcpy(line + len, "[...]", 5);
        len += 5;
    }
    line[len++] = '\n';
    pthread_mutex_lock(&log_mu);
    ssize_t w = write(out_fd, line, len);
    (void)w;
    pthread_mutex_unlock(&log_mu);
}
