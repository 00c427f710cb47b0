/* supervisor.c - starting, watching and restarting psyche's children.
 *
 * Owns the child processes (through mcp_client). It
 * never decides what to say to the user beyond the report callback, and it
 * never runs on any thread but the agent's. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fs.h"
#include "log.h"
#include "proc.h"
#include "startup.h"
#include "util.h"
#include "utf8.h"

/* Lines of a child's log shown when it fails. */
#define LOG_TAIL_LINES 8

int psy_child_init(psy_child *ch, const char *name, char *const argv[], const char *log_path, bool enabled)
{
    memset(ch, 0, sizeof *ch);
    ch->pidfd = -1;
    ch->notify_fd = -1;
    ch->backoff_max_s = 60;
    ch->stable_s = 60;
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

int psy_child_trust_config(psy_child *ch, const char *env_prefix, const char *workspace)
{
    free(ch->config_workspace);
    ch->config_workspace = workspace && *workspace ? strdup(workspace) : NULL;
    if (workspace && *workspace && !ch->config_workspace) return -ENOMEM;
    snprintf(ch->env_prefix, sizeof ch->env_prefix, "%s", env_prefix);
    ch->config_check = true;
    return 0;
}

/* 0 when the child may start: no config file, or one startup_config_trusted
 * accepts; else -errno with why naming the file. */
static int config_refused(const psy_child *ch, char *why, size_t whylen)
{
    if (!ch->config_check || !ch->argv) return 0;
    int argc = 0;
    while (ch->argv[argc]) argc++;
    char *path = NULL;
    startup_config_origin origin = STARTUP_CONFIG_NONE;
    int rc = startup_config_find(ch->name, ch->env_prefix, argc, ch->argv, &path, &origin, why, whylen);
    if (rc || !path) return rc;
    char err[768];
    rc = startup_config_trusted(path, ch->config_workspace, err, sizeof err);
    char from[64];
    if (origin == STARTUP_CONFIG_ENV) snprintf(from, sizeof from, "$%s_CONFIG", ch->env_prefix);
    else snprintf(from, sizeof from, "%s", startup_config_origin_name(origin));
    if (rc) snprintf(why, whylen, "%s (the config file given by %s; %s was not run)", err, from, ch->name);
    if (rc) log_error("%s: %s", ch->name, why);
    free(path);
    return rc;
}

void psy_child_free(psy_child *ch)
{
    psy_child_stop(ch, 0);
    free(ch->config_workspace);
    ch->config_workspace = NULL;
    for (size_t i = 0; ch->argv && ch->argv[i]; i++) free(ch->argv[i]);
    free(ch->argv);
    free(ch->log_path);
    ch->argv = NULL;
    ch->log_path = NULL;
}

bool psy_child_up(const psy_child *ch) { return ch->c != NULL; }
bool psy_child_starting(const psy_child *ch) { return ch->job != NULL; }
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

/* The last LOG_TAIL_LINES lines of the child's log (caller frees), or NULL. */
static char *log_tail(const psy_child *ch)
{
    char *tail = NULL;
    return fs_file_tail(ch->log_path, 0, LOG_TAIL_LINES, &tail, NULL) == 0 ? tail : NULL;
}

static void append_tail(psy_child *ch, char *err, size_t errlen)
{
    char *tail = log_tail(ch);
    if (tail && *tail) {
        size_t used = strlen(err);
        snprintf(err + used, errlen - used, "; last lines of %s:\n%s", ch->log_path, tail);
    }
    free(tail);
}

/* An async start: the thread reads only the copies here and writes only
 * the result fields; the agent thread reads those once done is set. */
typedef struct psy_child_job {
    pthread_t th;
    char name[16];
    char **argv;          /* borrowed from the child (never changed while a job runs) */
    const char *log_path; /* borrowed too */
    psy_sup_policy pol;
    int cancel; /* [atomic] set by psy_child_stop */
    pthread_mutex_t mu;
    pid_t pid; /* [mu] the process of the attempt in progress, 0 = none */
    int notify_fd;
    bool first; /* the child's first start (not a restart) */
    int done;   /* [atomic] the thread has finished */
    int rc;
    mcp_client *c;
    char why[512];
} psy_child_job;

static void job_set_pid(psy_child_job *job, pid_t pid)
{
    if (!job) return;
    pthread_mutex_lock(&job->mu);
    job->pid = pid;
    pthread_mutex_unlock(&job->mu);
}

/* The attempts (spawn + handshake, with 1 s, 2 s ... between them). Touches
 * no psy_child field, so it may run on a helper thread. */
static int start_client(const char *name, char *const argv[], const char *log_path, const psy_sup_policy *pol,
                        const int *cancel, psy_child_job *job, mcp_client **out, char *why, size_t whylen)
{
    *out = NULL;
    int rc = -EAGAIN, delay_ms = 1000;
    why[0] = 0;
    for (int attempt = 1; attempt <= pol->attempts; attempt++) {
        if (attempt > 1) {
            log_info("%s: attempt %d of %d in %d ms", name, attempt, pol->attempts, delay_ms);
            nap(delay_ms, cancel);
            delay_ms *= 2;
        }
        if (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE)) {
            rc = -ECANCELED;
            snprintf(why, whylen, "cancelled");
            break;
        }
        mcp_client *c = NULL;
        rc = mcp_client_spawn(&c, argv, log_path, why, whylen);
        if (rc) {
            log_warn("%s: %s", name, why);
            if (rc == -ENOENT || rc == -EACCES) break; /* retrying cannot help */
            continue;
        }
        job_set_pid(job, mcp_client_pid(c));
        if (job && __atomic_load_n(&job->cancel, __ATOMIC_ACQUIRE)) kill(mcp_client_pid(c), SIGKILL); /* raced a stop */
        rc = mcp_client_initialize(c, "psyche", pol->start_timeout_ms, why, whylen);
        job_set_pid(job, 0); /* before the close reaps it: the pid is never killed once reused */
        if (rc == 0) {
            *out = c;
            return 0;
        }
        int st = mcp_client_close(c, 500);
        char desc[128];
        proc_describe_status(st, desc, sizeof desc);
        size_t used = strlen(why);
        snprintf(why + used, whylen - used, " (%s)", desc);
        log_warn("%s: handshake failed: %s", name, why);
    }
    return rc ? rc : -EIO;
}

static void set_up(psy_child *ch, mcp_client *c)
{
    ch->c = c;
    close_pidfd(ch);
    ch->pidfd = (int)syscall(SYS_pidfd_open, mcp_client_pid(c), 0);
    ch->last_error[0] = 0;
    ch->ever_up = true;
    ch->up_since = now_mono();
    log_info("%s is up (pid %d, %s)", ch->name, (int)mcp_client_pid(c), mcp_client_server_name(c));
}

static void start_failed(psy_child *ch, const char *why, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s could not be started (%s): %s", ch->name, ch->argv[0], why);
    append_tail(ch, err, errlen);
    utf8_trim_partial(err); /* a long cause is cut, never inside a character */
    snprintf(ch->last_error, sizeof ch->last_error, "%s", why);
    utf8_trim_partial(ch->last_error);
}

int psy_child_start(psy_child *ch, const psy_sup_policy *pol, const int *cancel, char *err, size_t errlen)
{
    if (ch->c) return 0;
    if (!ch->argv || !ch->argv[0]) {
        snprintf(err, errlen, "%s: no command configured", ch->name);
        return -EINVAL;
    }
    char why[1024];
    mcp_client *c = NULL;
    int rc = config_refused(ch, why, sizeof why);
    if (rc) {
        start_failed(ch, why, err, errlen);
        return rc;
    }
    rc = start_client(ch->name, ch->argv, ch->log_path, pol, cancel, NULL, &c, why, sizeof why);
    if (rc == 0) {
        set_up(ch, c);
        return 0;
    }
    start_failed(ch, why, err, errlen);
    return rc;
}

static void *job_main(void *arg)
{
    psy_child_job *job = arg;
    job->rc = start_client(job->name, job->argv, job->log_path, &job->pol, &job->cancel, job, &job->c, job->why,
                           sizeof job->why);
    __atomic_store_n(&job->done, 1, __ATOMIC_RELEASE);
    if (job->notify_fd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(job->notify_fd, &one, sizeof one);
        (void)w;
    }
    return NULL;
}

/* Starts the helper thread; -errno when it cannot (the caller starts in line then). */
static int job_launch(psy_child *ch, const psy_sup_policy *pol, bool first)
{
    if (!ch->argv || !ch->argv[0]) return -EINVAL;
    psy_child_job *job = calloc(1, sizeof *job);
    if (!job) return -ENOMEM;
    snprintf(job->name, sizeof job->name, "%s", ch->name);
    job->argv = ch->argv;
    job->log_path = ch->log_path;
    job->pol = *pol;
    job->notify_fd = ch->notify_fd;
    job->first = first;
    pthread_mutex_init(&job->mu, NULL);
    int rc = pthread_create(&job->th, NULL, job_main, job);
    if (rc) {
        pthread_mutex_destroy(&job->mu);
        free(job);
        log_warn("%s: cannot start it in the background (%s); starting it in line", ch->name, strerror(rc));
        return -rc;
    }
    ch->job = job;
    log_info("%s: starting in the background", ch->name);
    return 0;
}

/* Joins a finished (or cancelled) job; returns its rc and hands its client to *c. */
static int job_reap(psy_child *ch, mcp_client **c, char *why, size_t whylen, bool *first)
{
    psy_child_job *job = ch->job;
    pthread_join(job->th, NULL);
    int rc = job->rc;
    *c = job->c;
    snprintf(why, whylen, "%s", job->why);
    *first = job->first;
    pthread_mutex_destroy(&job->mu);
    free(job);
    ch->job = NULL;
    return rc;
}

static void job_cancel(psy_child *ch)
{
    psy_child_job *job = ch->job;
    if (!job) return;
    __atomic_store_n(&job->cancel, 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(&job->mu);
    if (job->pid > 0) kill(job->pid, SIGKILL); /* ends a hanging handshake at once */
    pthread_mutex_unlock(&job->mu);
    mcp_client *c = NULL;
    char why[512];
    bool first;
    job_reap(ch, &c, why, sizeof why, &first);
    if (c) mcp_client_close(c, 0); /* it came up just as it was stopped */
    log_info("%s: the start in progress was stopped", ch->name);
}

void psy_child_wait_start(psy_child *ch, int wait_ms, const int *cancel)
{
    while (ch->job && wait_ms > 0 && !__atomic_load_n(&ch->job->done, __ATOMIC_ACQUIRE)) {
        if (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE)) return;
        nap(20, NULL);
        wait_ms -= 20;
    }
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
    char *tail = log_tail(ch);
    /* backoff: 1 s, 2 s, 4 s ... up to backoff_max_s; after a stable run, 1 s again */
    if (ch->backoff_s <= 0 || now - ch->up_since >= ch->stable_s) ch->backoff_s = 1;
    double delay = ch->backoff_s;
    ch->backoff_s = delay * 2 > ch->backoff_max_s ? ch->backoff_max_s : delay * 2;
    ch->retry_at = now + delay; /* unless the rate limit says later */
    ch->gave_up = false;
    snprintf(text, sizeof text, "%s died (%s); restarting in %g s", ch->name, desc, delay);
    log_error("%s; log %s", text, ch->log_path);
    snprintf(ch->last_error, sizeof ch->last_error, "died (%s)", desc);
    snprintf(ch->last_exit, sizeof ch->last_exit, "%s", desc);
    if (report) report(ud, ch, "died", text, desc, tail);
    free(tail);
    return true;
}

/* Reports how a start ended; true when the child is up. */
static bool after_start(psy_child *ch, const psy_sup_policy *pol, int rc, bool first, psy_child_report_fn report,
                        void *ud)
{
    char text[1280];
    if (rc == 0) {
        if (!first) ch->restarts++;
        ch->gave_up = false;
        snprintf(text, sizeof text, "%s %s (pid %d)", ch->name, first ? "started" : "is back", (int)psy_child_pid(ch));
        if (report) report(ud, ch, first ? "started" : "restarted", text, NULL, NULL);
        return true;
    }
    ch->retry_at = now_mono() + pol->retry_s;
    char *tail = log_tail(ch);
    snprintf(text, sizeof text, "%s could not be started: %s; trying again in %d s", ch->name, ch->last_error,
             pol->retry_s);
    if (report) report(ud, ch, "start_failed", text, ch->last_error, tail);
    free(tail);
    return false;
}

bool psy_child_tick(psy_child *ch, const psy_sup_policy *pol, double now, const int *cancel, psy_child_report_fn report,
                    void *ud)
{
    if (!ch->enabled) return false;
    char text[1024];
    if (ch->job) {
        if (!__atomic_load_n(&ch->job->done, __ATOMIC_ACQUIRE)) return false;
        mcp_client *c = NULL;
        char why[512], err[2048];
        bool first;
        int rc = job_reap(ch, &c, why, sizeof why, &first);
        if (rc == 0) set_up(ch, c);
        else start_failed(ch, why, err, sizeof err);
        return after_start(ch, pol, rc, first, report, ud);
    }
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
    if (ch->async) {
        char why[1024];
        int rc = config_refused(ch, why, sizeof why); /* here: the helper thread only spawns */
        if (rc) {
            start_failed(ch, why, err, sizeof err);
            return after_start(ch, pol, rc, first, report, ud);
        }
        if (job_launch(ch, pol, first) == 0) return false; /* the result comes in a later tick */
    }
    int rc = psy_child_start(ch, pol, cancel, err, sizeof err);
    return after_start(ch, pol, rc, first, report, ud);
}

double psy_child_next_due(const psy_child *ch, double now)
{
    if (!ch->enabled || ch->c) return -1;
    if (ch->job) return ch->notify_fd >= 0 ? -1 : 0.05;
    return ch->retry_at > now ? ch->retry_at - now : 0;
}

void psy_child_stop(psy_child *ch, int grace_ms)
{
    job_cancel(ch);
    if (ch->c) {
        int st = mcp_client_close(ch->c, grace_ms);
        char desc[128];
        proc_describe_status(st, desc, sizeof desc);
        log_info("%s stopped (%s)", ch->name, desc);
    }
    ch->c = NULL;
    close_pidfd(ch);
}
