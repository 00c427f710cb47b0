/* supervisor.c - starting, watching and restarting psyche's children, and
 * the fallback JSONL file for memories while mnemosyne is away.
 *
 * Owns the child processes (through mcp_client) and the fallback file. It
 * never decides what to say to the user beyond the report callback, and it
 * never runs on any thread but the agent's. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "proc.h"
#include "util.h"

int psy_child_init(psy_child *ch, const char *name, char *const argv[], const char *log_path, bool enabled)
{
    memset(ch, 0, sizeof *ch);
    ch->pidfd = -1;
    snprintf(ch->name, sizeof ch->name, "%s", name);
    ch->enabled = enabled;
    size_t n = 0;
    while (argv && argv[n]) n++;
    ch->argv = calloc(n + 1, sizeof *ch->argv);
    ch->log_path = strdup(log_path ? log_path : "/dev/null");
    if (!ch->argv || !ch->log_path) {
        psy_child_free(ch);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if (!(ch->argv[i] = strdup(argv[i]))) {
            psy_child_free(ch);
            return -ENOMEM;
        }
    return 0;
}

void psy_child_free(psy_child *ch)
{
    psy_child_stop(ch, 0);
    for (size_t i = 0; ch->argv && ch->argv[i]; i++) free(ch->argv[i]);
    free(ch->argv);
    free(ch->log_path);
    ch->argv = NULL;
    ch->log_path = NULL;
}

bool psy_child_up(const psy_child *ch) { return ch->c != NULL; }
pid_t psy_child_pid(const psy_child *ch) { return ch->c ? mcp_client_pid(ch->c) : 0; }

static void close_pidfd(psy_child *ch)
{
    if (ch->pidfd >= 0) close(ch->pidfd);
    ch->pidfd = -1;
}

/* Sleeps ms, waking early when *cancel is set. */
static void nap(int ms, const int *cancel)
{
    while (ms > 0) {
        if (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE)) return;
        int step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static void append_tail(psy_child *ch, char *err, size_t errlen)
{
    char *tail = file_tail(ch->log_path, 8);
    if (tail && *tail) {
        size_t used = strlen(err);
        snprintf(err + used, errlen - used, "; last lines of %s:\n%s", ch->log_path, tail);
    }
    free(tail);
}

int psy_child_start(psy_child *ch, const psy_sup_policy *pol, const int *cancel, char *err, size_t errlen)
{
    if (ch->c) return 0;
    if (!ch->argv || !ch->argv[0]) {
        snprintf(err, errlen, "%s: no command configured", ch->name);
        return -EINVAL;
    }
    int rc = -EAGAIN, delay_ms = 1000;
    char why[512] = "";
    for (int attempt = 1; attempt <= pol->attempts; attempt++) {
        if (attempt > 1) {
            log_info("%s: attempt %d of %d in %d ms", ch->name, attempt, pol->attempts, delay_ms);
            nap(delay_ms, cancel);
            delay_ms *= 2;
            if (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE)) {
                rc = -ECANCELED;
                snprintf(why, sizeof why, "cancelled");
                break;
            }
        }
        mcp_client *c = NULL;
        rc = mcp_client_spawn(&c, ch->argv, ch->log_path, why, sizeof why);
        if (rc) {
            log_warn("%s: %s", ch->name, why);
            if (rc == -ENOENT || rc == -EACCES) break; /* retrying cannot help */
            continue;
        }
        rc = mcp_client_initialize(c, "psyche", pol->start_timeout_ms, why, sizeof why);
        if (rc == 0) {
            ch->c = c;
            close_pidfd(ch);
            ch->pidfd = (int)syscall(SYS_pidfd_open, mcp_client_pid(c), 0);
            ch->last_error[0] = 0;
            ch->ever_up = true;
            log_info("%s is up (pid %d, %s)", ch->name, (int)mcp_client_pid(c), mcp_client_server_name(c));
            return 0;
        }
        int st = mcp_client_close(c, 500);
        char desc[128];
        proc_describe_status(st, desc, sizeof desc);
        size_t used = strlen(why);
        snprintf(why + used, sizeof why - used, " (%s)", desc);
        log_warn("%s: handshake failed: %s", ch->name, why);
    }
    snprintf(err, errlen, "%s could not be started (%s): %s", ch->name, ch->argv[0], why);
    append_tail(ch, err, errlen);
    snprintf(ch->last_error, sizeof ch->last_error, "%s", why);
    return rc ? rc : -EIO;
}

/* Returns true (once) when the child has died; fills desc. */
static bool check_death(psy_child *ch, int grace_ms, char *desc, size_t desclen)
{
    if (!ch->c || mcp_client_alive(ch->c)) return false;
    int st = mcp_client_close(ch->c, grace_ms);
    ch->c = NULL;
    close_pidfd(ch);
    proc_describe_status(st, desc, desclen);
    return true;
}

static int recent_count(psy_child *ch, double now, int window_s)
{
    int k = 0;
    for (int i = 0; i < ch->n_recent; i++)
        if (now - ch->recent[i] <= window_s) ch->recent[k++] = ch->recent[i];
    ch->n_recent = k;
    return k;
}

static void note_attempt(psy_child *ch, double now)
{
    if (ch->n_recent == PSY_CHILD_RECENT) {
        memmove(ch->recent, ch->recent + 1, sizeof ch->recent[0] * (PSY_CHILD_RECENT - 1));
        ch->n_recent--;
    }
    ch->recent[ch->n_recent++] = now;
}

bool psy_child_check(psy_child *ch, double now, psy_child_report_fn report, void *ud)
{
    char desc[160], text[512];
    if (!ch->enabled || !check_death(ch, 300, desc, sizeof desc)) return false;
    char *tail = file_tail(ch->log_path, 8);
    snprintf(text, sizeof text, "%s died (%s); restarting", ch->name, desc);
    log_error("%s; log %s", text, ch->log_path);
    snprintf(ch->last_error, sizeof ch->last_error, "died (%s)", desc);
    snprintf(ch->last_exit, sizeof ch->last_exit, "%s", desc);
    if (report) report(ud, ch, "died", text, desc, tail);
    free(tail);
    ch->retry_at = now; /* at once, unless the rate limit says otherwise */
    ch->gave_up = false;
    return true;
}

bool psy_child_tick(psy_child *ch, const psy_sup_policy *pol, double now, const int *cancel,
                    psy_child_report_fn report, void *ud)
{
    if (!ch->enabled) return false;
    char text[1024];
    psy_child_check(ch, now, report, ud);
    if (ch->c || now < ch->retry_at) return false;
    if (recent_count(ch, now, pol->restart_window_s) >= pol->restart_max) {
        ch->retry_at = now + pol->retry_s;
        if (!ch->gave_up) {
            snprintf(text, sizeof text, "%s keeps failing (%d restarts within %d s); not restarting it for %d s",
                     ch->name, ch->n_recent, pol->restart_window_s, pol->retry_s);
            log_error("%s", text);
            if (report) report(ud, ch, "gave_up", text, ch->last_error, NULL);
        }
        ch->gave_up = true;
        return false;
    }
    bool first = !ch->ever_up;
    note_attempt(ch, now);
    char err[2048];
    if (psy_child_start(ch, pol, cancel, err, sizeof err) == 0) {
        if (!first) ch->restarts++;
        ch->gave_up = false;
        snprintf(text, sizeof text, "%s %s (pid %d)", ch->name, first ? "started" : "is back", (int)psy_child_pid(ch));
        if (report) report(ud, ch, first ? "started" : "restarted", text, NULL, NULL);
        return true;
    }
    ch->retry_at = now_mono() + pol->retry_s;
    char *tail = file_tail(ch->log_path, 8);
    snprintf(text, sizeof text, "%s could not be started: %s; trying again in %d s", ch->name, ch->last_error,
             pol->retry_s);
    if (report) report(ud, ch, "start_failed", text, ch->last_error, tail);
    free(tail);
    return false;
}

double psy_child_next_due(const psy_child *ch, double now)
{
    if (!ch->enabled || ch->c) return -1;
    return ch->retry_at > now ? ch->retry_at - now : 0;
}

void psy_child_stop(psy_child *ch, int grace_ms)
{
    if (ch->c) {
        int st = mcp_client_close(ch->c, grace_ms);
        char desc[128];
        proc_describe_status(st, desc, sizeof desc);
        log_info("%s stopped (%s)", ch->name, desc);
    }
    ch->c = NULL;
    close_pidfd(ch);
}

/* ------------------------------------------------------------- fallback */

int psy_fallback_append(const char *path, const cJSON *args)
{
    char *line = cJSON_PrintUnformatted(args);
    if (!line) return -ENOMEM;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        free(line);
        log_error("cannot open the fallback memory file %s: %s", path, strerror(e));
        return -e;
    }
    buf b = BUF_INIT;
    int rc = buf_puts(&b, line) || buf_putc(&b, '\n') ? -ENOMEM : 0;
    free(line);
    for (size_t off = 0; !rc && off < b.len;) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) rc = -errno;
        else off += (size_t)w;
    }
    if (!rc && fsync(fd)) rc = -errno;
    close(fd);
    buf_free(&b);
    if (rc) log_error("cannot write the fallback memory file %s: %s", path, strerror(-rc));
    return rc;
}

int psy_fallback_count(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int n = 0, c, last = '\n';
    while ((c = getc(f)) != EOF) {
        if (c == '\n' && last != '\n') n++;
        last = c;
    }
    if (last != '\n') n++;
    fclose(f);
    return n;
}

int psy_fallback_import(const char *path, mcp_client *c, int timeout_ms, int *imported, int *failed)
{
    *imported = *failed = 0;
    char *text = NULL;
    size_t len = 0;
    int rc = read_file_all(path, 256u << 20, &text, &len);
    if (rc == -ENOENT) return 0;
    if (rc) return rc;
    buf keep = BUF_INIT;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!*line) continue;
        cJSON *args = cJSON_Parse(line);
        if (!cJSON_IsObject(args)) {
            /* A torn last line from a crash: keep it for a person to look at. */
            log_warn("fallback file %s: a line is not a JSON object; kept", path);
            cJSON_Delete(args);
            buf_puts(&keep, line), buf_putc(&keep, '\n');
            (*failed)++;
            continue;
        }
        cJSON *res = NULL;
        char err[256];
        int r = mcp_client_call(c, "store_memory", args, timeout_ms, NULL, NULL, NULL, &res, err, sizeof err);
        cJSON_Delete(res);
        if (r) {
            log_warn("fallback import: store_memory failed: %s", err);
            buf_puts(&keep, line), buf_putc(&keep, '\n');
            (*failed)++;
            if (r < 0) break; /* the server is gone: keep the rest as it is */
        } else {
            (*imported)++;
        }
    }
    /* what the loop did not reach (after a break) stays too */
    if (save && *save) buf_puts(&keep, save), buf_putc(&keep, '\n');
    free(text);
    if (keep.len == 0) {
        if (unlink(path) && errno != ENOENT) rc = -errno;
    } else {
        buf tmp = BUF_INIT;
        buf_printf(&tmp, "%s.tmp", path);
        FILE *f = fopen(tmp.data, "wb");
        if (!f) rc = -errno;
        else {
            if (fwrite(keep.data, 1, keep.len, f) != keep.len || fflush(f) || fsync(fileno(f))) rc = -EIO;
            if (fclose(f) && !rc) rc = -EIO;
            if (!rc && rename(tmp.data, path)) rc = -errno;
        }
        if (rc) log_error("cannot rewrite the fallback file %s: %s", path, strerror(-rc));
        buf_free(&tmp);
    }
    buf_free(&keep);
    return rc;
}
