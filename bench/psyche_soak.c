/* psyche_soak.c - soak program (a measurement, not a test): runs psyche
 * --events on the tiny model for N minutes with short idle intervals, so
 * idle thoughts and dreams interleave with user turns and with turns
 * abandoned by new input (cancels). Reports crashes (goal 0), RSS growth of
 * psyche and its children, and their CPU while waiting (goal < 1 % of a core).
 *
 *   build/bench/psyche_soak [--minutes N] [--build DIR]
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include <sys/stat.h>

#include "buf.h"
#include "fs.h"
#include "linereader.h"
#include "proc.h"
#include "util.h"

typedef struct {
    int answers, thoughts, child_events /* deaths */, errors, tools;
    bool got_answer;
} counts;

static void on_event(void *ud, char *line, size_t len)
{
    counts *c = ud;
    cJSON *m = cJSON_ParseWithLength(line, len);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(m, "event");
    if (cJSON_IsString(ev)) {
        const char *e = ev->valuestring;
        if (!strcmp(e, "answer")) c->answers++, c->got_answer = true;
        else if (!strcmp(e, "thought")) c->thoughts++;
        else if (!strcmp(e, "child")) {
            const cJSON *what = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "data"), "event");
            if (cJSON_IsString(what) && (!strcmp(what->valuestring, "died") || !strcmp(what->valuestring, "gave_up")))
                c->child_events++;
        } else if (!strcmp(e, "error")) c->errors++;
        else if (!strcmp(e, "tool_end")) c->tools++;
    }
    cJSON_Delete(m);
}

/* The numeric fields of /proc/PID/stat after the state: f[0] is field 4
 * (ppid), f[10] field 14 (utime), f[20] field 24 (rss). Returns how many
 * were read (0 when the process is gone). */
enum { STAT_PPID = 0, STAT_UTIME = 10, STAT_STIME = 11, STAT_RSS = 20, STAT_N = 21 };
static int proc_stat(pid_t pid, long long f[STAT_N])
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp) return 0;
    size_t r = fread(text, 1, sizeof text - 1, fp);
    (void)fclose(fp); /* read-only */
    text[r] = 0;
    char *p = strrchr(text, ')'); /* the name may hold spaces and parentheses */
    if (!p || !p[1] || !p[2]) return 0;
    p += 3; /* ") S " */
    int n = 0;
    while (n < STAT_N) {
        char *end;
        f[n] = strtoll(p, &end, 10);
        if (end == p) break;
        n++;
        p = end;
    }
    return n;
}

/* CPU ticks and RSS (kB) of pid and all its descendants. */
static void tree_usage(pid_t root, unsigned long long *ticks, long *rss_kb)
{
    *ticks = 0, *rss_kb = 0;
    pid_t tree[256];
    int n = 1;
    tree[0] = root;
    long long f[STAT_N];
    for (int pass = 0; pass < 4; pass++) { /* a few levels of children */
        DIR *d = opendir("/proc");
        struct dirent *de;
        while (d && (de = readdir(d))) {
            int pid;
            if (parse_int(de->d_name, 1, INT_MAX, &pid) || proc_stat(pid, f) < 1) continue;
            bool parent_in = false, self_in = false;
            for (int i = 0; i < n; i++) {
                if (tree[i] == f[STAT_PPID]) parent_in = true;
                if (tree[i] == pid) self_in = true;
            }
            if (parent_in && !self_in && n < 256) tree[n++] = pid;
        }
        if (d) closedir(d);
    }
    for (int i = 0; i < n; i++) {
        if (proc_stat(tree[i], f) < STAT_N) continue;
        *ticks += (unsigned long long)(f[STAT_UTIME] + f[STAT_STIME]);
        *rss_kb += (long)f[STAT_RSS] * (sysconf(_SC_PAGESIZE) / 1024);
    }
}

static void pump(proc *p, line_reader *lr, counts *c, int ms)
{
    int64_t end = now_mono_ms() + ms;
    char chunk[65536];
    for (;;) {
        int64_t left = end - now_mono_ms();
        if (left <= 0) return;
        struct pollfd pfd = {.fd = p->from_child, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0) continue;
        ssize_t r = read(p->from_child, chunk, sizeof chunk);
        if (r <= 0) return;
        lr_feed(lr, chunk, (size_t)r, on_event, NULL, c);
    }
}

static void say(proc *p, const char *msg)
{
    ssize_t w = write(p->to_child, msg, strlen(msg));
    (void)w;
}

/* The environment of the psyche under test: everything (workspace, state,
 * memories, logs) inside base, never in the user's own folders. */
static void soak_env(const char *base, const char *build)
{
    char cwd[1024], model[2048], ws[1024];
    snprintf(model, sizeof model, "%s/%s/models/tiny-chat.gguf", getcwd(cwd, sizeof cwd), build);
    snprintf(ws, sizeof ws, "%s/ws", base);
    if (fs_mkdir_p(ws, 0755)) perror(ws); /* psyche then reports the workspace */
    setenv("HOME", base, 1);
    unsetenv("XDG_STATE_HOME");
    unsetenv("XDG_DATA_HOME");
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("XDG_CACHE_HOME");
    setenv("PSYCHE_MODEL_PATH", model, 1);
    setenv("PSYCHE_WORKSPACE_DIR", ws, 1);
    setenv("PSYCHE_IDLE_THINK_AFTER_S", "3", 1);
    setenv("PSYCHE_IDLE_QUIET_AFTER_USER_S", "8", 1);
    setenv("PSYCHE_IDLE_DREAM_AFTER_S", "10", 1);
    setenv("PSYCHE_IDLE_DREAM_INTERVAL_S", "10", 1);
    setenv("PSYCHE_IDLE_THINK_MAX_TOKENS", "64", 1);
    setenv("PSYCHE_IDLE_DREAM_MAX_TOKENS", "64", 1);
    setenv("PSYCHE_AGENT_MAX_TOKENS", "96", 1);
}

typedef struct soak_stats {
    double idle_cpu_sum; /* % of a core, summed over the windows */
    int idle_windows, turns, cancels;
    long rss0, rss1; /* kB after the first answer and at the end */
} soak_stats;

/* Rounds of waiting, idle thinking, an abandoned turn and a full turn, for minutes. */
static void soak_loop(proc *p, line_reader *lr, counts *c, double minutes, soak_stats *s)
{
    long hz = sysconf(_SC_CLK_TCK);
    unsigned long long t0;
    tree_usage(p->pid, &t0, &s->rss0);
    double end = now_mono() + minutes * 60;
    while (now_mono() < end && proc_alive(p)) {
        /* Waiting right after an answer, before idle thinking may start: what does waiting cost? */
        c->got_answer = false;
        pump(p, lr, c, 1000);
        unsigned long long a, b;
        long r;
        tree_usage(p->pid, &a, &r);
        pump(p, lr, c, 4000);
        tree_usage(p->pid, &b, &r);
        s->idle_cpu_sum += (double)(b - a) / (double)hz / 4.0 * 100.0;
        s->idle_windows++;
        /* Let idle thoughts and dreams happen. */
        pump(p, lr, c, 12000);
        /* A turn abandoned by new input, then a full turn. */
        say(p, "Write a long story about the sea.\n");
        pump(p, lr, c, 150);
        say(p, "Actually, just say hi.\n");
        s->cancels++, s->turns += 2;
        for (int i = 0; i < 600 && !c->got_answer; i++) pump(p, lr, c, 100);
    }
    tree_usage(p->pid, &t0, &s->rss1);
}

static void report(double minutes, const char *desc, const counts *c, const soak_stats *s, bool alive, const char *base)
{
    printf("psyche soak: %.1f min on the tiny model, psyche %s\n", minutes, desc);
    printf("turns sent            %d (%d abandoned by new input)\n", s->turns, s->cancels);
    printf("answers               %d\n", c->answers);
    printf("idle thoughts/dreams  %d\n", c->thoughts);
    printf("tool runs             %d\n", c->tools);
    printf("child deaths          %d (goal 0)\n", c->child_events);
    printf("psyche crashed        %s (goal no)\n", alive ? "no" : "YES");
    printf("RSS (psyche+children) %.1f MiB -> %.1f MiB (growth %+.1f MiB)\n", s->rss0 / 1024.0, s->rss1 / 1024.0,
           (s->rss1 - s->rss0) / 1024.0);
    printf("CPU while waiting     %.2f %% of a core (mean of %d windows; goal < 1 %%)\n",
           s->idle_windows ? s->idle_cpu_sum / s->idle_windows : 0.0, s->idle_windows);
    printf("logs                  %s\n", base);
}

int main(int argc, char **argv)
{
    double minutes = 2;
    const char *build = "build";
    for (int i = 1; i < argc - 1; i += 2) {
        if (!strcmp(argv[i], "--build")) build = argv[i + 1];
        else if (strcmp(argv[i], "--minutes") || parse_double(argv[i + 1], &minutes))
            return fprintf(stderr, "usage: psyche_soak [--minutes M] [--build DIR] (M a number)\n"), 2;
    }
    char base[] = "/tmp/psyche-soak.XXXXXX";
    if (!mkdtemp(base)) return perror("mkdtemp"), 1;
    soak_env(base, build);
    char bin[1024], log[1024];
    snprintf(bin, sizeof bin, "%s/bin/psyche", build);
    snprintf(log, sizeof log, "%s/psyche.stderr", base);
    char *args[] = {bin, "--events", NULL};
    proc p;
    int rc = proc_spawn(&p, args, log);
    if (rc) return fprintf(stderr, "cannot start %s: %s\n", bin, strerror(-rc)), 1;
    line_reader lr;
    lr_init(&lr, 32u << 20);
    counts c = {0};
    say(&p, "Hello! Tell me about your day.\n");
    for (int i = 0; i < 600 && !c.got_answer; i++) pump(&p, &lr, &c, 100);
    soak_stats s = {.turns = 1};
    soak_loop(&p, &lr, &c, minutes, &s);
    bool alive = proc_alive(&p);
    say(&p, "/quit\n");
    int st = proc_stop(&p, 60000);
    char desc[96];
    proc_describe_status(st, desc, sizeof desc);
    report(minutes, desc, &c, &s, alive, base);
    lr_free(&lr);
    return alive && c.child_events == 0 ? 0 : 1;
}
