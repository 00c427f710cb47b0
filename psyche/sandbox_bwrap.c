/* sandbox_bwrap.c - the bubblewrap mode of the sandbox (finding and probing
 * bwrap, the argv that builds the command's namespaces), the command's
 * environment, and the report of which protections are in force.
 * See sandbox.h for what each mode promises. */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "utf8.h"

extern char **environ;

/* ---- string vectors -------------------------------------------------------- */

typedef struct strv {
    char **v;
    size_t n, cap;
    bool oom;
} strv;

static void sv_add(strv *s, const char *a)
{
    if (s->oom) return;
    if (s->n + 2 > s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        char **v = realloc(s->v, nc * sizeof *v);
        if (!v) {
            s->oom = true;
            return;
        }
        s->v = v;
        s->cap = nc;
    }
    if (!(s->v[s->n] = strdup(a))) {
        s->oom = true;
        return;
    }
    s->v[++s->n] = NULL;
}

static void sv_add2(strv *s, const char *a, const char *b)
{
    sv_add(s, a);
    sv_add(s, b);
}

static void sv_add3(strv *s, const char *a, const char *b, const char *c)
{
    sv_add(s, a);
    sv_add(s, b);
    sv_add(s, c);
}

void psy_sandbox_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++) free(v[i]);
    free(v);
}

static int sv_finish(strv *s, char ***out)
{
    if (s->oom || !s->v) {
        psy_sandbox_strv_free(s->v);
        *out = NULL;
        return -ENOMEM;
    }
    *out = s->v;
    return 0;
}

/* ---- bwrap's arguments --------------------------------------------------- */

/* The system folders, read-only; /bin, /lib... are links into /usr on merged-/usr systems. */
static void add_system(strv *s)
{
    static const char *const dirs[] = {"/usr",   "/bin",    "/sbin", "/lib", "/lib32",
                                       "/lib64", "/libx32", "/etc",  "/opt", NULL};
    for (int i = 0; dirs[i]; i++) {
        struct stat st;
        if (lstat(dirs[i], &st) < 0) continue;
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t k = readlink(dirs[i], target, sizeof target - 1);
            if (k <= 0) continue;
            target[k] = 0;
            sv_add3(s, "--symlink", target, dirs[i]);
        } else if (S_ISDIR(st.st_mode)) {
            sv_add3(s, "--ro-bind", dirs[i], dirs[i]);
        }
    }
}

/* The workspace read-write, its protected files covered. */
static void add_workspace(strv *s, const psy_sandbox *sb)
{
    sv_add3(s, "--bind", sb->workspace, sb->workspace);
    const psy_secrets *sec = sb->secrets;
    const char *covered = NULL; /* the last folder covered: what lies in it is hidden with it */
    for (size_t i = 0; sec && i < sec->n_paths; i++) {
        size_t cl = covered ? strlen(covered) : 0;
        if (covered && strncmp(sec->paths[i], covered, cl) == 0 && sec->paths[i][cl] == '/') continue;
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", sb->workspace, sec->paths[i]) >= (int)sizeof p) continue;
        if (sec->path_is_dir[i]) covered = sec->paths[i];
        if (sec->path_is_dir[i]) {
            sv_add3(s, "--perms", "0000", "--tmpfs");
            sv_add(s, p);
            sv_add2(s, "--remount-ro", p);
        } else {
            sv_add3(s, "--ro-bind", "/dev/null", p);
        }
    }
    sv_add2(s, "--chdir", sb->workspace);
}

/* bwrap's options before the command (without the bwrap path itself). */
static void add_options(strv *s, const psy_sandbox *sb)
{
    sv_add3(s, "--die-with-parent", "--new-session", "--unshare-pid");
    /* A user namespace of its own and no capabilities: run by root, bwrap
     * would otherwise leave the command root's capabilities (mount, ...). */
    sv_add3(s, "--unshare-user", "--cap-drop", "ALL");
    sv_add3(s, "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try");
    if (!sb->allow_network) sv_add(s, "--unshare-net");
    add_system(s);
    sv_add2(s, "--dev", "/dev");
    sv_add2(s, "--proc", "/proc");
    sv_add2(s, "--tmpfs", "/tmp");
    if (sb->allow_tmp) sv_add2(s, "--tmpfs", "/var/tmp");
    for (int i = 0; sb->extra_write && sb->extra_write[i]; i++)
        sv_add3(s, "--bind", sb->extra_write[i], sb->extra_write[i]);
    add_workspace(s, sb);
    if (!sb->allow_tmp) sv_add2(s, "--remount-ro", "/tmp"); /* after the binds beneath it */
}

/* The helper bound read-only inside, and its options up to its "--". */
static void add_inner(strv *s, const psy_sandbox *sb, bool check)
{
    sv_add3(s, "--ro-bind", sb->inner_path, PSY_SANDBOX_EXEC_INSIDE);
    sv_add2(s, "--", PSY_SANDBOX_EXEC_INSIDE);
    if (check) sv_add(s, "--check");
    sv_add2(s, "--workspace", sb->workspace);
    if (sb->allow_network) sv_add(s, "--allow-network");
    if (!sb->allow_tmp) sv_add(s, "--no-tmp");
    for (int i = 0; sb->extra_write && sb->extra_write[i]; i++) sv_add2(s, "--write", sb->extra_write[i]);
}

int psy_sandbox_argv(const psy_sandbox *sb, const char *cmd, char ***argv)
{
    strv s = {0};
    if (sb && sb->enabled && sb->bwrap) {
        sv_add(&s, sb->bwrap_path);
        add_options(&s, sb);
        if (sb->inner) add_inner(&s, sb, false);
        sv_add(&s, "--");
    }
    sv_add3(&s, "/bin/sh", "-c", cmd);
    return sv_finish(&s, argv);
}

/* ---- probing ---------------------------------------------------------------- */

static bool find_bwrap(char *out, size_t n)
{
    const char *env = getenv("PSYCHE_BWRAP"); /* tests: "" or a missing path makes it unavailable */
    if (env) {
        snprintf(out, n, "%s", env);
        return *env && access(env, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    char buf_path[4096];
    snprintf(buf_path, sizeof buf_path, "%s", path && *path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(buf_path, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, n, "%s/bwrap", d);
        if (access(out, X_OK) == 0) return true;
    }
    return false;
}

/* The helper: $PSYCHE_SANDBOX_EXEC (tests: "" or a missing path makes it
 * unavailable), else beside our binary (build/bin), in ../libexec/psyche
 * (installed) or in ../bin (build/tests). */
static bool find_helper(char *out, size_t n)
{
    const char *env = getenv("PSYCHE_SANDBOX_EXEC");
    if (env) {
        snprintf(out, n, "%s", env);
        return *env && access(env, X_OK) == 0;
    }
    char dir[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (k <= 0) return false;
    dir[k] = 0;
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    static const char *const rel[] = {"", "/../libexec/psyche", "/../bin", NULL};
    for (int i = 0; rel[i]; i++) {
        char p[PATH_MAX + 64];
        snprintf(p, sizeof p, "%s%s/psyche-sandbox-exec", dir, rel[i]);
        if (access(p, X_OK) == 0 && realpath(p, out)) return true;
    }
    snprintf(out, n, "%.*s/psyche-sandbox-exec", utf8_prec(dir, 3000), dir);
    return false;
}

/* Runs argv quietly; its exit status, or -1 when it did not run or exit. */
static int run_quiet(char **argv)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    int st = 0;
    if (rc) return -1;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* One test run of bwrap (with the helper's --check when inner). */
static int probe_run(psy_sandbox *sb, bool inner)
{
    strv s = {0};
    sv_add(&s, sb->bwrap_path);
    add_options(&s, sb);
    if (inner) add_inner(&s, sb, true);
    sv_add2(&s, "--", "/bin/true");
    char **argv = NULL;
    if (sv_finish(&s, &argv)) return -1;
    int st = run_quiet(argv);
    psy_sandbox_strv_free(argv);
    return st;
}

/* real lies beneath dir. */
static bool beneath(const char *real, const char *dir)
{
    size_t n = strlen(dir);
    return n && strncmp(real, dir, n) == 0 && (real[n] == '/' || dir[n - 1] == '/');
}

/* True when path lies in a folder commands may write (the workspace, an
 * extra_write folder): a command could replace the helper there. */
static bool writable_inside(const psy_sandbox *sb, const char *path)
{
    char real[PATH_MAX];
    if (!realpath(path, real)) return true; /* cannot tell: not trusted */
    if (beneath(real, sb->workspace)) return true;
    for (int i = 0; sb->extra_write && sb->extra_write[i]; i++)
        if (beneath(real, sb->extra_write[i])) return true;
    return false;
}

/* The inner layer: the helper is there and applies Landlock inside. */
static void probe_inner(psy_sandbox *sb)
{
    sb->inner = false;
    if (find_helper(sb->inner_path, sizeof sb->inner_path) && writable_inside(sb, sb->inner_path)) {
        snprintf(sb->inner_why, sizeof sb->inner_why,
                 "Landlock inner layer not applied: its helper %.*s lies where commands can write (the "
                 "workspace), so a command could replace it; use one outside the workspace",
                 utf8_prec(sb->inner_path, 200), sb->inner_path);
        return;
    }
    if (!sb->inner_path[0] || access(sb->inner_path, X_OK) != 0) {
        snprintf(sb->inner_why, sizeof sb->inner_why,
                 "Landlock inner layer not applied: its helper psyche-sandbox-exec is missing (looked for \"%.*s\"; "
                 "reinstall Psyche, or set PSYCHE_SANDBOX_EXEC to the helper)",
                 utf8_prec(sb->inner_path, 200), sb->inner_path);
        sb->inner_path[0] = 0;
        return;
    }
    if (sb->abi <= 0) {
        snprintf(sb->inner_why, sizeof sb->inner_why,
                 "Landlock inner layer not applied: Landlock is not available in this kernel");
        return;
    }
    int st = probe_run(sb, true);
    sb->inner = st == 0;
    if (sb->inner)
        snprintf(sb->inner_why, sizeof sb->inner_why,
                 "Landlock ABI %d inside bubblewrap: writes only in the workspace%s; reads confined by the mounts%s",
                 sb->abi, sb->allow_tmp ? " and the private /tmp, /var/tmp" : "",
                 sb->abi >= 4 && !sb->allow_network ? "; TCP denied" : "");
    else
        snprintf(sb->inner_why, sizeof sb->inner_why, "Landlock inner layer not applied: %.*s %s",
                 utf8_prec(sb->inner_path, 200), sb->inner_path,
                 st == PSY_SANDBOX_EXEC_NO_LANDLOCK ? "could not apply Landlock inside bubblewrap"
                                                    : "failed its test run inside bubblewrap");
}

void psy__bwrap_probe(psy_sandbox *sb)
{
    sb->bwrap = false;
    if (!find_bwrap(sb->bwrap_path, sizeof sb->bwrap_path)) {
        snprintf(sb->bwrap_why, sizeof sb->bwrap_why,
                 "bubblewrap not found (install the package bubblewrap; PATH or PSYCHE_BWRAP)");
        return;
    }
    /* Try the real thing once: user namespaces may be disabled or denied. */
    int st = probe_run(sb, false);
    if (st == 0) {
        sb->bwrap = true;
        sb->bwrap_why[0] = 0;
        probe_inner(sb);
    } else {
        snprintf(sb->bwrap_why, sizeof sb->bwrap_why,
                 "bubblewrap at %.*s cannot make namespaces here (%s; user namespaces disabled?)",
                 utf8_prec(sb->bwrap_path, 120), sb->bwrap_path, st < 0 ? "it did not run" : "its test run failed");
    }
}

void psy__seccomp_probe(psy_sandbox *sb)
{
    pid_t pid = fork();
    if (pid == 0) _exit(psy_seccomp_deny_tty_push() == 0 ? 0 : 1);
    int st = 0;
    if (pid > 0)
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
    sb->seccomp = pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    snprintf(sb->seccomp_why, sizeof sb->seccomp_why, "%s",
             sb->seccomp ? "seccomp filter refuses TIOCSTI and TIOCLINUX" : "seccomp filters are not available here");
}

static size_t psy__hidden_count(const psy_sandbox *sb) { return sb->secrets ? sb->secrets->n_paths : 0; }

void psy__bwrap_detail(psy_sandbox *sb)
{
    snprintf(sb->detail, sizeof sb->detail,
             "bubblewrap: own mount, PID and IPC namespaces%s; writable only %.*s%s; home, /run and "
             "socket folders absent; %zu protected file(s) of the workspace hidden; new session%s; environment "
             "cleared; %.*s",
             sb->allow_network ? " (network allowed by the configuration)" : " and no network",
             utf8_prec(sb->workspace, 700), sb->workspace,
             sb->allow_tmp ? ", /tmp, /var/tmp (both private to the command)" : " (/tmp private and read-only)",
             psy__hidden_count(sb), sb->seccomp ? ", TIOCSTI/TIOCLINUX refused" : ", TIOCSTI NOT filtered",
             utf8_prec(sb->inner_why, 300), sb->inner_why);
}

/* ---- the environment ------------------------------------------------------- */

/* A value of ours that is safe to pass on: printable, short, no '='-tricks needed. */
static const char *safe_env(const char *name, const char *def)
{
    const char *v = getenv(name);
    if (!v || !*v || strlen(v) > 64) return def;
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("._-@", *p)))
            return def;
    return v;
}

int psy_sandbox_envp(const psy_sandbox *sb, char ***envp)
{
    strv s = {0};
    buf b = BUF_INIT;
    sv_add(&s, "PATH=/usr/local/bin:/usr/bin:/bin");
    buf_printf(&b, "LANG=%s", safe_env("LANG", "C.UTF-8"));
    sv_add(&s, buf_str(&b));
    buf_reset(&b);
    buf_printf(&b, "TERM=%s", safe_env("TERM", "dumb"));
    sv_add(&s, buf_str(&b));
    buf_reset(&b);
    bool bw = sb && sb->enabled && sb->bwrap;
    buf_printf(&b, "HOME=%s", bw ? "/tmp" : sb ? sb->workspace : "/");
    sv_add(&s, buf_str(&b));
    buf_reset(&b);
    const char *tmp = bw ? NULL : psy_sandbox_tmpdir(sb);
    if (tmp) {
        buf_printf(&b, "TMPDIR=%s", tmp);
        sv_add(&s, buf_str(&b));
    }
    buf_free(&b);
    return sv_finish(&s, envp);
}

/* ---- the report ------------------------------------------------------------ */

static void prot(cJSON *o, const char *name, bool on, const char *why)
{
    cJSON *p = cJSON_AddObjectToObject(o, name);
    cJSON_AddBoolToObject(p, "on", on);
    cJSON_AddStringToObject(p, "why", why);
}

cJSON *psy_sandbox_report(const psy_sandbox *sb)
{
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    bool en = sb && sb->enabled, bw = en && sb->bwrap, ll = en && !bw && sb->fs;
    cJSON_AddBoolToObject(r, "active", psy_sandbox_active(sb));
    cJSON_AddStringToObject(r, "mode", bw ? "bubblewrap" : ll ? "landlock" : "none");
    cJSON_AddStringToObject(r, "detail", psy_sandbox_detail(sb));
    cJSON *o = cJSON_AddObjectToObject(r, "protections");
    char why[512];
    const char *off = en ? NULL : "the sandbox is disabled in the configuration";
    prot(o, "mount_namespace", bw,
         bw    ? "bubblewrap: only system folders (read-only) and the workspace are mounted"
         : off ? off
         : sb  ? sb->bwrap_why
               : "no sandbox");
    if (ll)
        snprintf(why, sizeof why, "Landlock ABI %d: writes only in the workspace%s; secrets unreadable", sb->abi,
                 sb->tmp_rules ? " and the temporary folders" : "");
    else snprintf(why, sizeof why, "%s", bw ? sb->inner_why : off ? off : "Landlock is not available in this kernel");
    prot(o, "landlock_files", ll || (bw && sb->inner), why);
    bool sec_ok = en && (bw || ll) && sb->secrets && sb->secrets->complete;
    snprintf(why, sizeof why, "%s",
             !sec_ok ? (sb && sb->secrets && !sb->secrets->complete ? sb->secrets->why : "no file confinement")
             : bw    ? "protected files (by name and by identity) covered inside the sandbox"
                     : "protected files (by name and by identity) not granted by Landlock");
    prot(o, "secrets_hidden", sec_ok, why);
    bool home_ok = bw || (ll && !sb->partial);
    if (bw) snprintf(why, sizeof why, "home directories are not mounted");
    else if (ll && sb->partial)
        snprintf(why, sizeof why, "%.*s has more than %d entries: the rest of it was not checked for secrets",
                 utf8_prec(sb->partial_area, 300), sb->partial_area, sb->scan_budget);
    else
        snprintf(why, sizeof why, "%s",
                 ll ? "secrets in home directories are not granted by Landlock" : "no file confinement");
    prot(o, "home_secrets_hidden", home_ok, why);
    bool net = en && !sb->allow_network && (bw || sb->netns);
    prot(o, "network", net,
         !en                 ? off
         : sb->allow_network ? "network allowed by the configuration"
         : bw                ? "own network namespace (bubblewrap)"
         : sb->netns         ? "own network namespace"
         : sb->net_tcp       ? "only TCP is blocked (Landlock); no network namespace could be made"
                             : "no network namespace could be made");
    prot(o, "pid_namespace", bw, bw ? "own PID namespace, dies with its parent" : "not available without bubblewrap");
    bool children = access("/proc/thread-self/children", R_OK) == 0;
    prot(o, "process_cleanup", children,
         children ? "a keeper process (child subreaper) kills everything the command leaves, setsid/setpgid included"
                  : "/proc/<pid>/task/<tid>/children is missing (CONFIG_PROC_CHILDREN): only the process group is "
                    "killed");
    prot(o, "sockets_absent", bw,
         bw    ? "/run, $XDG_RUNTIME_DIR, /tmp's sockets and the home are not mounted: no pathname UNIX socket to reach"
         : off ? off
               : "without a mount namespace, pathname UNIX sockets (tmux, D-Bus, ssh-agent) can still be connected to");
    prot(o, "new_session", true, "the command runs in a new session without a controlling terminal");
    prot(o, "tty_injection", en && sb->seccomp, en ? sb->seccomp_why : off);
    prot(o, "clean_environment", true, "only PATH, LANG, TERM, HOME (and TMPDIR) are passed");
    prot(o, "no_capabilities", en, en ? "the command holds no capabilities, also when psyche runs as root" : off);
    bool proc = bw || (sb && sb->nondumpable);
    prot(o, "psyche_proc_hidden", proc,
         bw     ? "own /proc of the command's PID namespace; psyche is not in it"
         : proc ? "psyche is non-dumpable and the command holds no capabilities: psyche's /proc entries "
                  "(environ, fd, mem) are closed to it"
                : "prctl(PR_SET_DUMPABLE) failed");
    bool sig = bw || (ll && sb->scoped);
    prot(o, "signals_scoped", sig,
         bw    ? "PID namespace: psyche, elpis and mnemosyne are not visible"
         : sig ? "Landlock scope: no signals outside the sandbox"
               : "the command can signal psyche's processes (no PID namespace, Landlock ABI < 6)");
    return r;
}
