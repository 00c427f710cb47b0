/* tools_exec.c - execute_bash: the blocklist, and running `/bin/sh -c` in
 * the workspace, in the sandbox, with a timeout and capped output.
 *
 * The forked child becomes a keeper: a new session (no controlling
 * terminal), a child subreaper, and the parent of the command. Every process
 * the command starts - also those that call setsid or setpgid, or
 * double-fork - is the keeper's descendant or is reparented to it, so when
 * the command ends (or psyche sends the keeper SIGTERM on a timeout or
 * cancel, or psyche dies: PR_SET_PDEATHSIG) the keeper kills them all
 * (listing /proc/thread-self/children until none is left) before it exits.
 * A tool call does not leave daemons behind.
 *
 * Between fork and exec only async-signal-safe calls happen (the agent runs
 * on its own thread while the UI thread runs). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "tools.h"
#include "util.h"

/* ---- blocklist ------------------------------------------------------------------ */

/* Substrings of the lower-cased command with whitespace runs as one space. */
static const char *const block_sub[] = {
    "rm -rf /", "rm -rf ~",       "rm -rf *",  "rm -fr /",  "rm -fr ~", "rm -fr *", "dd if=/dev/zero",
    "mv / ",    "chmod -r 777 /", "wget http", "curl http", "chown -r", NULL,
};
/* Substrings of the lower-cased command with all whitespace removed; shown as the second string. */
static const char *const block_nospace[][2] = {
    {":(){:|:&};:", ":(){ :|:& };: (fork bomb)"},
    {">/dev/sd", "> /dev/sda"},
    {">/dev/nvme", "> /dev/nvme"},
    {">/dev/hd", "> /dev/hda"},
    {"of=/dev/sd", "of=/dev/sda"},
    {"of=/dev/nvme", "of=/dev/nvme"},
    {NULL, NULL},
};
/* Blocked as a command word. */
static const char *const block_cmd[] = {"sudo", "shutdown", "reboot", "poweroff", "halt", NULL};
/* Words after which the next word is still a command. */
static const char *const cmd_prefixes[] = {"env",     "nohup", "exec", "time", "nice",   "xargs", "command",
                                           "builtin", "then",  "do",   "else", "elif",   "if",    "while",
                                           "until",   "!",     "doas", "su",   "setsid", NULL};

static bool in_list(const char *w, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(w, list[i]) == 0) return true;
    return false;
}

static bool is_sep(char c)
{
    return c == ';' || c == '&' || c == '|' || c == '(' || c == ')' || c == '`' || c == '\n' || c == '{' || c == '}';
}

/* Looks at the command words of s (lower-cased); quoted text after -c or
 * eval is checked as a command too. */
static const char *check_words(const char *s, size_t n, int depth)
{
    bool cmd_start = true;
    char prev[64] = "";
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r') {
            i++;
            continue;
        }
        if (is_sep(c) || (c == '$' && i + 1 < n && s[i + 1] == '(')) {
            i += c == '$' ? 2 : 1;
            cmd_start = true;
            prev[0] = 0;
            continue;
        }
        buf w = BUF_INIT;
        bool quoted = false;
        while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && !is_sep(s[i])) {
            if (s[i] == '\'' || s[i] == '"') {
                char q = s[i++];
                quoted = true;
                while (i < n && s[i] != q) {
                    if (q == '"' && s[i] == '\\' && i + 1 < n) i++;
                    buf_putc(&w, s[i++]);
                }
                if (i < n) i++;
            } else if (s[i] == '\\' && i + 1 < n) {
                buf_putc(&w, s[i + 1]);
                i += 2;
            } else {
                buf_putc(&w, s[i++]);
            }
        }
        const char *word = buf_str(&w);
        const char *hit = NULL;
        if (depth < 3 && (strcmp(prev, "-c") == 0 || strcmp(prev, "eval") == 0))
            hit = check_words(word, w.len, depth + 1);
        const char *base = strrchr(word, '/') && word[strlen(word) - 1] != '/' ? strrchr(word, '/') + 1 : word;
        if (!hit && cmd_start) {
            if (in_list(base, block_cmd)) {
                for (int k = 0; block_cmd[k]; k++)
                    if (strcmp(base, block_cmd[k]) == 0) hit = block_cmd[k];
            } else if (strncmp(base, "mkfs", 4) == 0 && (base[4] == 0 || base[4] == '.')) {
                hit = "mkfs";
            } else if (strcmp(base, "init") == 0 || strcmp(base, "telinit") == 0) {
                size_t j = i;
                while (j < n && (s[j] == ' ' || s[j] == '\t')) j++;
                if (j < n && (s[j] == '0' || s[j] == '6') && (j + 1 == n || !((s[j + 1] >= '0' && s[j + 1] <= '9'))))
                    hit = s[j] == '0' ? "init 0" : "init 6";
            }
            if (!(in_list(word, cmd_prefixes) || (strchr(word, '=') && !quoted && word[0] != '='))) cmd_start = false;
        }
        snprintf(prev, sizeof prev, "%s", word);
        buf_free(&w);
        if (hit) return hit;
    }
    return NULL;
}

const char *psy_bash_blocked(const char *command)
{
    if (!command) return NULL;
    size_t n = strlen(command);
    char *norm = malloc(n + 1), *nospace = malloc(n + 1), *lower = malloc(n + 1);
    const char *hit = NULL;
    if (!norm || !nospace || !lower) {
        hit = "(out of memory)";
        goto out;
    }
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        char c = (char)(command[i] >= 'A' && command[i] <= 'Z' ? command[i] + 32 : command[i]);
        lower[i] = c;
        bool ws = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
        if (!ws) nospace[b++] = c;
        if (ws) {
            if (a && norm[a - 1] != ' ') norm[a++] = ' ';
        } else {
            norm[a++] = c;
        }
    }
    norm[a] = nospace[b] = lower[n] = 0;
    for (int i = 0; block_sub[i] && !hit; i++)
        if (strstr(norm, block_sub[i])) hit = block_sub[i];
    for (int i = 0; block_nospace[i][0] && !hit; i++)
        if (strstr(nospace, block_nospace[i][0])) hit = block_nospace[i][1];
    if (!hit) hit = check_words(lower, n, 0);
out:
    free(norm);
    free(nospace);
    free(lower);
    return hit;
}

/* ---- output capture: head and tail kept, the middle counted ------------------------ */

typedef struct capture {
    buf head;
    size_t head_max;
    char *ring;
    size_t ring_cap, ring_len, ring_pos; /* ring_pos: where the next byte goes */
    size_t total;
} capture;

static int cap_init(capture *c, size_t max)
{
    memset(c, 0, sizeof *c);
    c->head_max = max / 2;
    c->ring_cap = max - c->head_max;
    c->ring = malloc(c->ring_cap ? c->ring_cap : 1);
    return c->ring ? 0 : -ENOMEM;
}

static void cap_add(capture *c, const char *p, size_t n)
{
    c->total += n;
    if (c->head.len < c->head_max) {
        size_t k = c->head_max - c->head.len < n ? c->head_max - c->head.len : n;
        buf_append(&c->head, p, k);
        p += k;
        n -= k;
    }
    if (!c->ring_cap) return;
    if (n > c->ring_cap) {
        p += n - c->ring_cap;
        n = c->ring_cap;
    }
    for (size_t i = 0; i < n; i++) {
        c->ring[c->ring_pos] = p[i];
        c->ring_pos = (c->ring_pos + 1) % c->ring_cap;
    }
    c->ring_len = c->ring_len + n > c->ring_cap ? c->ring_cap : c->ring_len + n;
}

/* Adds the text under key; returns how many bytes were cut from the middle. */
static size_t cap_finish(capture *c, cJSON *res, const char *key)
{
    buf out = BUF_INIT;
    size_t cut = c->total - c->head.len - c->ring_len;
    size_t start = (c->ring_pos + c->ring_cap - c->ring_len) % (c->ring_cap ? c->ring_cap : 1);
    buf tail = BUF_INIT;
    for (size_t i = 0; i < c->ring_len; i++) buf_putc(&tail, c->ring[(start + i) % c->ring_cap]);
    if (cut == 0) {
        buf_append(&out, c->head.data ? c->head.data : "", c->head.len);
        buf_append(&out, buf_str(&tail), tail.len);
    } else {
        /* Cut on character boundaries so no U+FFFD appears at the seams. */
        size_t h = utf8_complete_prefix(buf_str(&c->head), c->head.len);
        size_t s = 0;
        while (s < tail.len && s < 3 && ((unsigned char)tail.data[s] & 0xC0) == 0x80) s++;
        buf_append(&out, buf_str(&c->head), h);
        buf_printf(&out, "\n[... %zu bytes cut ...]\n", cut + (c->head.len - h) + s);
        buf_append(&out, buf_str(&tail) + s, tail.len - s);
    }
    psy__add_text(res, key, buf_str(&out), out.len);
    buf_free(&out);
    buf_free(&tail);
    return cut;
}

static void cap_free(capture *c)
{
    buf_free(&c->head);
    free(c->ring);
}

/* ---- running ------------------------------------------------------------------------ */

typedef struct child_report {
    int kind;  /* 1: sandbox bits applied; 2: exec/chdir failed; 3: the keeper's count of processes it killed */
    int value; /* bits, errno, or count */
} child_report;

/* Kills every child of the calling process (a subreaper, so orphaned
 * descendants are its children too) until none is left. Returns how many it
 * killed. Async-signal-safe. */
static int kill_all_children(void)
{
    int killed = 0;
    for (;;) {
        int fd = open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return killed; /* no CONFIG_PROC_CHILDREN: the parent's group kill remains */
        char b[4096];
        ssize_t n = read(fd, b, sizeof b - 1);
        close(fd);
        int found = 0;
        long pid = 0;
        for (ssize_t i = 0; i <= n; i++) {
            if (i < n && b[i] >= '0' && b[i] <= '9') {
                pid = pid * 10 + (b[i] - '0');
            } else if (pid > 0) {
                kill((pid_t)pid, SIGKILL);
                found++;
                pid = 0;
            }
        }
        if (found == 0) {
            if (waitpid(-1, NULL, WNOHANG) > 0) continue; /* a zombie not listed yet */
            return killed;
        }
        killed += found;
        /* Each one killed dies and is reaped; what it leaves is reparented
         * to us and listed in the next round. */
        for (int k = 0; k < found; k++)
            if (waitpid(-1, NULL, 0) < 0 && errno == ECHILD) return killed;
    }
}

/* Waits up to ms for the children left when the command ended to exit on
 * their own, reaping them: bubblewrap's init in the command's PID namespace
 * ends a moment after the command, and is not a background process the
 * command left. Returns early when none is left. Async-signal-safe. */
static void reap_leavers(int ms)
{
    int64_t end = now_mono_ms() + ms;
    for (;;) {
        pid_t w;
        while ((w = waitpid(-1, NULL, WNOHANG)) > 0) {
        }
        if (w < 0 || now_mono_ms() >= end) return; /* < 0: ECHILD, none left */
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* The command's own process: sandbox, report, exec. Never returns. */
static void command_run(psy_tools *t, char *const argv[], char *const envp[], const sigset_t *mask, int rep)
{
    sigprocmask(SIG_SETMASK, mask, NULL);
    child_report r = {1, psy_sandbox_enter(&t->sb)};
    (void)!write(rep, &r, sizeof r);
    execve(argv[0], argv, envp);
    r.kind = 2;
    r.value = errno;
    (void)!write(rep, &r, sizeof r);
    _exit(127);
}

/* The keeper (see the top of the file). Never returns. */
static void keeper_run(psy_tools *t, char *const argv[], char *const envp[], pid_t parent, int rep, int kep)
{
    sigset_t waitset, old;
    sigemptyset(&waitset);
    sigaddset(&waitset, SIGCHLD);
    sigaddset(&waitset, SIGTERM);
    sigaddset(&waitset, SIGHUP);
    sigaddset(&waitset, SIGINT);
    sigprocmask(SIG_BLOCK, &waitset, &old);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != parent) _exit(125); /* psyche is already gone */
    pid_t cmd = fork();
    if (cmd == 0) command_run(t, argv, envp, &old, rep);
    close(rep);
    close(0), close(1), close(2); /* the output pipes close when the command's processes are gone */
    if (cmd < 0) _exit(126);
    int status = 0;
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&waitset, &si);
        if (sig < 0) continue;
        if (sig != SIGCHLD) {
            kill_all_children();
            _exit(128 + sig);
        }
        pid_t w;
        bool done = false;
        int st;
        while ((w = waitpid(-1, &st, WNOHANG)) > 0)
            if (w == cmd) status = st, done = true;
        if (done) break;
    }
    reap_leavers(100);
    child_report r = {3, kill_all_children()};
    (void)!write(kep, &r, sizeof r);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(sig, &sa, NULL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        sigprocmask(SIG_UNBLOCK, &one, NULL);
        kill(getpid(), sig);
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 127);
}

static void child_run(psy_tools *t, char *const argv[], char *const envp[], const int io[3], int rep, int kep,
                      pid_t parent)
{
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    static const int sigs[] = {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGTSTP, SIGTTIN, SIGTTOU};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
    setsid(); /* a new session: no controlling terminal, and a group of its own */
    dup2(io[0], 0);
    dup2(io[1], 1);
    dup2(io[2], 2);
    child_report r = {2, 0};
    if (chdir(t->ws.root) < 0) {
        r.value = errno;
        (void)!write(rep, &r, sizeof r);
        _exit(126);
    }
    keeper_run(t, argv, envp, parent, rep, kep);
}

static void drain(int *fd, capture *c)
{
    char tmp[8192];
    ssize_t k = read(*fd, tmp, sizeof tmp);
    if (k > 0) cap_add(c, tmp, (size_t)k);
    else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(*fd);
        *fd = -1;
    }
}

/* Reads both pipes until they close or until stop_at_ms. */
static void pump(int fds[2], capture caps[2], int64_t stop_at_ms)
{
    while (fds[0] >= 0 || fds[1] >= 0) {
        int64_t left = stop_at_ms - now_mono_ms();
        if (left <= 0) return;
        struct pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
        int r = poll(p, 2, left > 100 ? 100 : (int)left);
        if (r < 0 && errno != EINTR) return;
        for (int i = 0; i < 2; i++)
            if (fds[i] >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR))) drain(&fds[i], &caps[i]);
    }
}

/* One command's run as run_command's stages see it. */
typedef struct cmd_run {
    pid_t pid;        /* the keeper (child_run), leader of the command's group */
    int fds[2];       /* stdout, stderr read ends; -1 once closed */
    capture caps[2];  /* what was read from them */
    int sandbox_bits; /* PSY_SB_* the child reported as applied */
    int exec_errno;   /* the child could not start the command */
    bool exited, timed_out, cancelled, lingering;
    int status; /* waitpid's */
} cmd_run;

/* The child's reports on pr (sandbox bits, exec errno) until it closes its end. */
static void read_reports(int pr, cmd_run *r)
{
    child_report rep;
    ssize_t k;
    while ((k = read(pr, &rep, sizeof rep)) == (ssize_t)sizeof rep || (k < 0 && errno == EINTR)) {
        if (k < 0) continue;
        if (rep.kind == 1) r->sandbox_bits = rep.value;
        else r->exec_errno = rep.value;
    }
}

/* Reads the output until the command and its pipes are done, it runs past
 * deadline, or the tool is cancelled. */
static void watch(psy_tools *t, cmd_run *r, int64_t deadline)
{
    int64_t exit_at = 0;
    for (;;) {
        int64_t now = now_mono_ms();
        if (!r->exited) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == r->pid) {
                r->exited = true;
                exit_at = now;
            }
        }
        if (r->fds[0] < 0 && r->fds[1] < 0 && r->exited) break;
        if (r->exited && now - exit_at > 200) {
            r->lingering = true; /* something in the background still holds the output open */
            break;
        }
        if (!r->exited && now >= deadline) {
            r->timed_out = true;
            break;
        }
        if (atomic_load(&t->cancel)) {
            r->cancelled = true;
            break;
        }
        int64_t stop = now + 100 < deadline ? now + 100 : deadline;
        if (r->fds[0] < 0 && r->fds[1] < 0) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        } else {
            pump(r->fds, r->caps, stop);
        }
    }
}

/* Stops what is left of the command (its whole group), reads the last output
 * and reaps the keeper; pk is the keeper's report of stragglers it killed. */
static void stop_and_reap(cmd_run *r, int pk)
{
    if (r->timed_out || r->cancelled) {
        kill(r->pid, SIGTERM); /* the keeper kills everything of the command, then exits */
        int64_t grace = now_mono_ms() + 300;
        while (now_mono_ms() < grace) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == r->pid) break;
            pump(r->fds, r->caps, now_mono_ms() + 20);
        }
    }
    /* The leader is not reaped yet, so the group id cannot have been reused. */
    kill(-r->pid, SIGKILL);
    pump(r->fds, r->caps, now_mono_ms() + 500);
    for (int i = 0; i < 2; i++)
        if (r->fds[i] >= 0) close(r->fds[i]), r->fds[i] = -1;
    while (waitpid(r->pid, &r->status, 0) < 0 && errno == EINTR) {
    }
    child_report kr;
    if (read(pk, &kr, sizeof kr) == (ssize_t)sizeof kr && kr.kind == 3 && kr.value > 0) r->lingering = true;
}

/* The output streams and what was cut from them. */
static void report_output(const psy_tools *t, cmd_run *r, cJSON *res)
{
    size_t cut_out = cap_finish(&r->caps[0], res, "stdout");
    size_t cut_err = cap_finish(&r->caps[1], res, "stderr");
    if (cut_out) cJSON_AddNumberToObject(res, "stdout_cut_bytes", (double)cut_out);
    if (cut_err) cJSON_AddNumberToObject(res, "stderr_cut_bytes", (double)cut_err);
    if (cut_out || cut_err) {
        char note[160];
        snprintf(
            note, sizeof note,
            "output was longer than %zu bytes per stream: %zu bytes of stdout and %zu of stderr cut from the middle",
            t->cfg.max_output_bytes, cut_out, cut_err);
        cJSON_AddStringToObject(res, "output_note", note);
    }
}

/* "sandbox": the configured confinement, or what of it the child could apply. */
static void report_sandbox(const psy_tools *t, int bits, cJSON *res)
{
    if (bits == psy_sandbox_expected(&t->sb)) {
        cJSON_AddStringToObject(res, "sandbox", psy_sandbox_detail(&t->sb));
        return;
    }
    char sbm[1600];
    snprintf(sbm, sizeof sbm, "partly applied (%s%s%s%s): %s",
             bits & PSY_SB_FS ? "files"
             : t->sb.bwrap    ? "bubblewrap"
                              : "files NOT confined",
             bits & PSY_SB_SECCOMP ? ", TIOCSTI filter" : ", TIOCSTI NOT filtered",
             bits & PSY_SB_NETNS ? ", network namespace" : "", bits & PSY_SB_NETLL ? ", TCP rules" : "",
             psy_sandbox_detail(&t->sb));
    cJSON_AddStringToObject(res, "sandbox", sbm);
}

/* The result of a finished run; true when the command succeeded. */
static bool report_run(psy_tools *t, const char *cmd, cmd_run *r, cJSON *res)
{
    int st = r->status;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
    cJSON_AddStringToObject(res, "command", cmd);
    cJSON_AddNumberToObject(res, "exit_code", code);
    if (WIFSIGNALED(st) && !r->timed_out && !r->cancelled)
        cJSON_AddStringToObject(res, "signal", strsignal(WTERMSIG(st)));
    report_output(t, r, res);
    cJSON_AddBoolToObject(res, "timed_out", r->timed_out);
    if (r->lingering)
        cJSON_AddStringToObject(res, "note", "background processes still running when the command ended were stopped");
    report_sandbox(t, r->sandbox_bits, res);
    if (r->exec_errno) {
        psy__tool_fail(res, "Cannot run /bin/sh: %s", strerror(r->exec_errno));
    } else if (r->timed_out) {
        t->outcome = PSY_TOOL_INTERRUPTED;
        psy__tool_fail(res, "Command timeout after %g seconds; its whole process group was killed",
                       t->cfg.bash_timeout_s);
    } else if (r->cancelled) {
        t->outcome = PSY_TOOL_INTERRUPTED;
        psy__tool_fail(res, "Command cancelled; its process group was killed");
    } else if (code != 0) {
        psy__tool_fail(res, "Command exited with code %d", code);
    } else {
        return true;
    }
    return false;
}

/* The sandbox's argv and environment for cmd, after the secrets scan it
 * depends on. false (res says why) when the command must not run. */
static bool prepare(psy_tools *t, const char *cmd, char ***argv, char ***envp, cJSON *res)
{
    /* New names of secrets (a command may have made or renamed some) before the sandbox is built. */
    if (psy_secrets_scan(&t->secrets, t->ws.root_fd) && !t->cfg.allow_sensitive) {
        /* Fail closed: what was not scanned may hold secrets the sandbox would show. */
        psy__tool_fail(res,
                       "Refusing to run commands: the workspace's secrets scan did not complete (%s). Move that "
                       "folder out of the workspace.",
                       t->secrets.why);
        return false;
    }
    psy_sandbox_refresh(&t->sb); /* files made since the last command */
    if (psy_sandbox_argv(&t->sb, cmd, argv) || psy_sandbox_envp(&t->sb, envp)) {
        psy__tool_fail(res, "Cannot run the command: out of memory");
        return false;
    }
    return true;
}

static bool run_command(psy_tools *t, const char *cmd, cJSON *res)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1}, pr[2] = {-1, -1}, pk[2] = {-1, -1};
    cmd_run r = {.fds = {-1, -1}};
    cap_init(&r.caps[0], t->cfg.max_output_bytes);
    cap_init(&r.caps[1], t->cfg.max_output_bytes);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char **argv = NULL, **envp = NULL;
    bool ok = false;
    if (devnull < 0 || pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC) || pipe2(pr, O_CLOEXEC) ||
        pipe2(pk, O_CLOEXEC | O_NONBLOCK)) {
        psy__tool_fail(res, "Cannot run the command: %s", strerror(errno));
        goto out;
    }
    int64_t t0 = now_mono_ms();
    if (!prepare(t, cmd, &argv, &envp, res)) goto out;
    pid_t parent = getpid();
    r.pid = fork();
    if (r.pid < 0) {
        psy__tool_fail(res, "Cannot run the command: fork: %s", strerror(errno));
        goto out;
    }
    if (r.pid == 0) {
        int io[3] = {devnull, po[1], pe[1]};
        child_run(t, argv, envp, io, pr[1], pk[1], parent);
    }
    close(po[1]), close(pe[1]), close(pr[1]), close(pk[1]);
    po[1] = pe[1] = pr[1] = pk[1] = -1;
    read_reports(pr[0], &r);
    r.fds[0] = po[0], r.fds[1] = pe[0];
    po[0] = pe[0] = -1;
    watch(t, &r, t0 + (int64_t)(t->cfg.bash_timeout_s * 1000));
    stop_and_reap(&r, pk[0]);
    ok = report_run(t, cmd, &r, res);
out:
    psy_sandbox_strv_free(argv);
    psy_sandbox_strv_free(envp);
    if (devnull >= 0) close(devnull);
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0) close(po[i]);
        if (pe[i] >= 0) close(pe[i]);
        if (pr[i] >= 0) close(pr[i]);
        if (pk[i] >= 0) close(pk[i]);
    }
    cap_free(&r.caps[0]);
    cap_free(&r.caps[1]);
    return ok;
}

static bool tool_execute_bash(psy_tools *t, void *ud, const cJSON *args, cJSON *res)
{
    (void)ud;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(args, "command");
    const char *cmd = cJSON_IsString(c) ? c->valuestring : "";
    if (!t->cfg.dangerous_commands) {
        const char *p = psy_bash_blocked(cmd);
        if (p) {
            cJSON_AddStringToObject(res, "command", cmd);
            return psy__tool_fail(res,
                                  "Dangerous command pattern detected: '%s'. The command was not run "
                                  "(dangerous commands are disabled).",
                                  p);
        }
    }
    return run_command(t, cmd, res);
}

void psy__register_exec_tool(psy_tools *t)
{
    static const psy_tool_def def = {
        "execute_bash",
        "Run a shell command (/bin/sh -c) in the workspace; returns stdout, stderr and the exit code.",
        "{\"type\":\"object\",\"properties\":{"
        "\"command\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":10000,\"description\":\"the command "
        "line\"}},"
        "\"required\":[\"command\"]}",
        false,
        tool_execute_bash,
        NULL,
    };
    psy_tools_register(t, &def);
}
