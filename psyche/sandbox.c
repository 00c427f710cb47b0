/* sandbox.c - Landlock ruleset and namespaces for execute_bash; see sandbox.h.
 *
 * The Debian 12 kernel headers describe Landlock ABI 1-2 only, so the later
 * structure fields and flags are declared here; the kernel is asked for its
 * ABI and only what it knows is used. */
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "workspace.h"

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#define PSY_LL_NET_BIND_TCP (1ULL << 0)
#define PSY_LL_NET_CONNECT_TCP (1ULL << 1)
#define PSY_LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define PSY_LL_SCOPE_SIGNAL (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; shorter sizes for older ABIs. */
struct psy_ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

#define FS_READ (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_FILE_RIGHTS                                                                                                 \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |                       \
     LANDLOCK_ACCESS_FS_TRUNCATE)

static long ll_create(const void *attr, size_t size, uint32_t flags)
{
    return syscall(SYS_landlock_create_ruleset, attr, size, flags);
}

static uint64_t fs_handled(int abi)
{
    uint64_t m = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */
    if (abi >= 2) m |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) m |= LANDLOCK_ACCESS_FS_TRUNCATE;
    return m;
}

void psy_sandbox_default_config(psy_sandbox_config *c)
{
    memset(c, 0, sizeof *c);
    c->enabled = true;
    c->allow_network = false;
    c->allow_tmp = true;
}

/* Adds a path-beneath rule; non-directories get only the file rights. */
static int add_rule(psy_sandbox *sb, const char *path, uint64_t access)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) access &= FS_FILE_RIGHTS;
    access &= fs_handled(sb->abi);
    struct landlock_path_beneath_attr pb = {.allowed_access = access, .parent_fd = fd};
    long rc = syscall(SYS_landlock_add_rule, sb->ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
    int e = errno;
    close(fd);
    if (rc < 0) return -e;
    sb->rules++;
    return 0;
}

/* Remembers a directory granted entry by entry (and when it last changed):
 * a refresh rebuilds the rules only when one of them changed. */
static void watch_dir(psy_sandbox *sb, DIR *d, const char *path)
{
    struct stat st;
    if (fstat(dirfd(d), &st)) return;
    if (sb->n_watch == sb->cap_watch) {
        size_t nc = sb->cap_watch ? sb->cap_watch * 2 : 64;
        psy_sandbox_watch *v = realloc(sb->watch, nc * sizeof *v);
        if (!v) return;
        sb->watch = v;
        sb->cap_watch = nc;
    }
    char *p = strdup(path);
    if (!p) return;
    sb->watch[sb->n_watch++] = (psy_sandbox_watch){p, st.st_mtim};
}

static void unwatch_all(psy_sandbox *sb)
{
    for (size_t i = 0; i < sb->n_watch; i++) free(sb->watch[i].path);
    sb->n_watch = 0;
}

/* True when a watched directory changed (or is gone) since the last build. */
static bool watched_changed(const psy_sandbox *sb)
{
    for (size_t i = 0; i < sb->n_watch; i++) {
        struct stat st;
        if (stat(sb->watch[i].path, &st) || st.st_mtim.tv_sec != sb->watch[i].mtime.tv_sec ||
            st.st_mtim.tv_nsec != sb->watch[i].mtime.tv_nsec)
            return true;
    }
    return false;
}

/* ---- read rules: everything but the secrets in homes and the workspace ---
 *
 * Landlock only grants, and a grant on a directory covers everything beneath
 * it. So the path from "/" down to each home directory and to the workspace
 * (an "area") is walked entry by entry, and inside an area a breadth-first
 * scan (within an entry budget) finds the directories that hold a sensitive
 * name somewhere below: those are granted entry by entry, skipping the
 * sensitive ones; every other directory is granted whole. A directory
 * granted entry by entry does not cover files created in it later (the
 * ruleset is rebuilt before each command, so the next command sees them). */

typedef struct read_walk {
    psy_sandbox *sb;
    int budget; /* entries each area's scan may look at */
} read_walk;

static const char *base_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static bool parent_is(const char *p, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(p, dir, n) == 0 && p[n] == '/' && !strchr(p + n + 1, '/');
}

/* p is a proper ancestor of q. */
static bool is_ancestor(const char *p, const char *q)
{
    if (!q || !*q) return false;
    if (strcmp(p, "/") == 0) return q[0] == '/' && q[1] != 0;
    size_t n = strlen(p);
    return strncmp(p, q, n) == 0 && q[n] == '/';
}

/* A home directory or the workspace: scanned for secrets. */
static bool is_area(const psy_sandbox *sb, const char *p)
{
    return strcmp(p, "/root") == 0 || parent_is(p, "/home") || (sb->home[0] && strcmp(p, sb->home) == 0) ||
           strcmp(p, sb->workspace) == 0;
}

/* On the way to an area: granted entry by entry. */
static bool leads_to_area(const psy_sandbox *sb, const char *p)
{
    return strcmp(p, "/home") == 0 || is_ancestor(p, "/root") || is_ancestor(p, sb->home) ||
           is_ancestor(p, sb->workspace);
}

/* A name whose reads are refused: psy_name_sensitive(), and gh under .config. */
static bool secret_name(const char *dir, const char *name)
{
    return psy_name_sensitive(name) || (strcmp(name, "gh") == 0 && strcmp(base_of(dir), ".config") == 0);
}

/* A secret by name, or (inside the workspace) by identity: a protected file
 * renamed or hard-linked under an innocent name. */
static bool secret_entry(const psy_sandbox *sb, const char *dir, const char *name)
{
    if (secret_name(dir, name)) return true;
    if (!sb->secrets || !sb->secrets->n_ids) return false;
    char p[PATH_MAX];
    struct stat st;
    if (snprintf(p, sizeof p, "%s/%s", dir, name) >= (int)sizeof p) return true; /* cannot check: closed */
    return lstat(p, &st) == 0 && psy_secrets_has(sb->secrets, &st);
}

/* Directory entry type without following symlinks. */
static int entry_type(const char *dir, const struct dirent *de)
{
    if (de->d_type != DT_UNKNOWN) return de->d_type;
    char p[PATH_MAX];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    if (lstat(p, &st)) return DT_UNKNOWN;
    return S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
}

static int join(char *out, size_t outlen, const char *dir, const char *name)
{
    int n = snprintf(out, outlen, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

typedef struct scan_node {
    char *path;
    int parent, first_child, next_sibling;
    bool dirty;  /* holds a secret below, or leads to another area: granted entry by entry */
    bool opaque; /* another area: walked on its own */
} scan_node;

typedef struct scan {
    scan_node *v;
    int n, cap;
} scan;

static int scan_add(scan *sc, const char *path, int parent)
{
    if (sc->n == sc->cap) {
        int nc = sc->cap ? sc->cap * 2 : 64;
        scan_node *v = realloc(sc->v, (size_t)nc * sizeof *v);
        if (!v) return -1;
        sc->v = v;
        sc->cap = nc;
    }
    char *dup = strdup(path);
    if (!dup) return -1;
    scan_node *nd = &sc->v[sc->n];
    *nd = (scan_node){.path = dup, .parent = parent, .first_child = -1, .next_sibling = -1};
    if (parent >= 0) {
        nd->next_sibling = sc->v[parent].first_child;
        sc->v[parent].first_child = sc->n;
    }
    return sc->n++;
}

static void area_walk(read_walk *w, const char *root, int depth);

/* Grants reads beneath node i of a scanned area (see the comment above). */
static void area_emit(read_walk *w, scan *sc, int i, int depth)
{
    const char *path = sc->v[i].path;
    if (!sc->v[i].dirty) {
        add_rule(w->sb, path, FS_READ);
        return;
    }
    if (sc->v[i].opaque) {
        area_walk(w, path, depth + 1);
        return;
    }
    DIR *d = opendir(path);
    if (!d) return;
    watch_dir(w->sb, d, path);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || secret_entry(w->sb, path, name)) continue;
        char p[PATH_MAX];
        if (join(p, sizeof p, path, name)) continue;
        int t = entry_type(path, de);
        if (t == DT_LNK) continue; /* the target's own rules decide */
        int child = -1;
        if (t == DT_DIR)
            for (int c = sc->v[i].first_child; c >= 0; c = sc->v[c].next_sibling)
                if (strcmp(sc->v[c].path, p) == 0) child = c;
        if (child >= 0) area_emit(w, sc, child, depth);
        else if (t == DT_DIR && (is_area(w->sb, p) || leads_to_area(w->sb, p))) area_walk(w, p, depth + 1);
        else add_rule(w->sb, p, FS_READ);
    }
    closedir(d);
}

/* A home or the workspace: breadth-first, so shallow secrets are found first. */
static void area_walk(read_walk *w, const char *root, int depth)
{
    if (depth > 8) return; /* areas inside areas: never this deep in practice */
    scan sc = {0};
    if (scan_add(&sc, root, -1) < 0) {
        free(sc.v);
        return;
    }
    /* The workspace is where the model can make files: no budget there, so
     * 20,001 files do not make the scan give up and grant the rest. */
    int budget = strcmp(root, w->sb->workspace) == 0 ? INT_MAX : w->budget;
    bool cut = false;
    for (int q = 0; q < sc.n && !cut; q++) {
        if (sc.v[q].opaque) continue;
        DIR *d = opendir(sc.v[q].path);
        if (!d) continue; /* unreadable: its files are too, whatever the rule */
        struct dirent *de;
        while ((de = readdir(d))) {
            const char *name = de->d_name;
            if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
            if (budget-- <= 0) {
                cut = true; /* what was not looked at is granted whole */
                break;
            }
            if (secret_entry(w->sb, sc.v[q].path, name)) {
                sc.v[q].dirty = true;
                continue;
            }
            if (entry_type(sc.v[q].path, de) != DT_DIR) continue;
            char p[PATH_MAX];
            if (join(p, sizeof p, sc.v[q].path, name)) continue;
            bool other_area = is_area(w->sb, p) && strcmp(p, root) != 0;
            bool leads = leads_to_area(w->sb, p);
            int k = scan_add(&sc, p, q);
            if (k < 0) {
                cut = true;
                break;
            }
            sc.v[k].opaque = other_area;
            sc.v[k].dirty = other_area || leads;
        }
        closedir(d);
    }
    if (cut) {
        w->sb->partial = true;
        snprintf(w->sb->partial_area, sizeof w->sb->partial_area, "%s", root);
    }
    for (int i = sc.n - 1; i > 0; i--)
        if (sc.v[i].dirty) sc.v[sc.v[i].parent].dirty = true;
    area_emit(w, &sc, 0, depth);
    for (int i = 0; i < sc.n; i++) free(sc.v[i].path);
    free(sc.v);
}

/* The way from "/" to the areas: entry by entry; all else is granted whole. */
static void grant_reads(read_walk *w, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d) return;
    watch_dir(w->sb, d, dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        char p[PATH_MAX];
        if (join(p, sizeof p, dir, name)) continue;
        int t = entry_type(dir, de);
        if (t == DT_LNK) continue; /* /bin -> usr/bin: the target's own rules decide */
        if (t == DT_DIR && is_area(w->sb, p)) {
            area_walk(w, p, 0);
            continue;
        }
        if (t == DT_DIR && depth < 16 && leads_to_area(w->sb, p)) {
            grant_reads(w, p, depth + 1);
            continue;
        }
        if (strcmp(dir, "/") != 0 && secret_entry(w->sb, dir, name)) continue;
        add_rule(w->sb, p, FS_READ);
    }
    closedir(d);
}

/* ---- network namespace --------------------------------------------------- */

/* Async-signal-safe: writes s to path. */
static bool write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    size_t n = strlen(s);
    bool ok = write(fd, s, n) == (ssize_t)n;
    close(fd);
    return ok;
}

/* "<id> <id> 1\n" without snprintf (not async-signal-safe). */
static void id_map(char *out, unsigned id)
{
    char digits[16];
    int k = 0;
    do {
        digits[k++] = (char)('0' + id % 10);
        id /= 10;
    } while (id);
    int j = 0;
    for (int r = 0; r < 2; r++) {
        for (int i = k - 1; i >= 0; i--) out[j++] = digits[i];
        out[j++] = ' ';
    }
    out[j++] = '1';
    out[j++] = '\n';
    out[j] = 0;
}

/* 1: plain CLONE_NEWNET worked; 2: needed a user namespace; 0: neither. */
static int enter_netns(unsigned uid, unsigned gid, bool allow_userns)
{
    if (unshare(CLONE_NEWNET) == 0) return 1;
    if (!allow_userns || unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) return 0;
    char m[48];
    write_file("/proc/self/setgroups", "deny");
    id_map(m, uid);
    bool ok = write_file("/proc/self/uid_map", m);
    id_map(m, gid);
    ok = write_file("/proc/self/gid_map", m) && ok;
    return ok ? 2 : 0;
}

static int probe_netns(unsigned uid, unsigned gid)
{
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) _exit(enter_netns(uid, gid, true));
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 0;
}

/* ---- setup ----------------------------------------------------------------- */

static uint64_t write_rights(const psy_sandbox *sb)
{
    return fs_handled(sb->abi) & ~(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE);
}

/* (Re)builds the Landlock ruleset from the saved configuration. */
static int build_ruleset(psy_sandbox *sb)
{
    if (sb->ruleset_fd >= 0) close(sb->ruleset_fd);
    sb->ruleset_fd = -1;
    sb->fs = false;
    struct psy_ll_ruleset_attr attr = {.handled_access_fs = fs_handled(sb->abi)};
    size_t size = sizeof(uint64_t);
    if (sb->abi >= 4) {
        size = 2 * sizeof(uint64_t);
        if (!sb->allow_network) attr.handled_access_net = PSY_LL_NET_BIND_TCP | PSY_LL_NET_CONNECT_TCP;
    }
    if (sb->abi >= 6) {
        size = sizeof attr;
        attr.scoped = PSY_LL_SCOPE_SIGNAL;
        if (!sb->allow_network) attr.scoped |= PSY_LL_SCOPE_ABSTRACT_UNIX_SOCKET;
    }
    long fd = ll_create(&attr, size, 0);
    if (fd < 0) return -errno;
    sb->ruleset_fd = (int)fd;
    fcntl(sb->ruleset_fd, F_SETFD, FD_CLOEXEC);
    sb->net_tcp = attr.handled_access_net != 0;
    sb->scoped = attr.scoped != 0;
    sb->rules = 0;
    sb->partial = false;
    sb->partial_area[0] = 0;
    unwatch_all(sb);

    if (sb->in_bwrap) {
        add_rule(sb, "/", FS_READ); /* inside bubblewrap: the mounts hide the secrets (sandbox.h) */
    } else {
        read_walk w = {.sb = sb, .budget = sb->scan_budget};
        grant_reads(&w, "/", 0);
        add_rule(sb, "/", LANDLOCK_ACCESS_FS_READ_DIR); /* listings everywhere (names, not contents) */
    }

    /* Writes: the workspace's reads come from the walk above, so its secrets stay unreadable. */
    int rc = add_rule(sb, sb->workspace, write_rights(sb));
    if (rc) {
        log_warn("sandbox: cannot add the workspace %s: %s", sb->workspace, strerror(-rc));
        close(sb->ruleset_fd);
        sb->ruleset_fd = -1;
        return rc;
    }
    sb->tmp_rules = 0;
    if (sb->allow_tmp) {
        static const char *const tmps[] = {"/tmp", "/var/tmp", "/dev/shm"};
        for (int i = 0; i < 3; i++)
            if (add_rule(sb, tmps[i], write_rights(sb)) == 0) sb->tmp_rules |= 1 << i;
        if (sb->scratch[0]) add_rule(sb, sb->scratch, fs_handled(sb->abi));
    }
    for (int i = 0; sb->extra_write && sb->extra_write[i]; i++) add_rule(sb, sb->extra_write[i], fs_handled(sb->abi));
    static const char *const devs[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/tty", NULL};
    for (int i = 0; devs[i]; i++) add_rule(sb, devs[i], LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE);
    sb->fs = true;
    return 0;
}

static void make_detail(psy_sandbox *sb, int ll_errno)
{
    buf d = BUF_INIT;
    if (sb->fs) {
        buf_printf(&d, "landlock ABI %d: writes only in %s", sb->abi, sb->workspace);
        static const char *const tmps[] = {"/tmp", "/var/tmp", "/dev/shm"};
        for (int i = 0; i < 3; i++)
            if (sb->tmp_rules & (1 << i)) buf_printf(&d, ", %s", tmps[i]);
        for (int i = 0; sb->extra_write && sb->extra_write[i]; i++) buf_printf(&d, ", %s", sb->extra_write[i]);
        buf_puts(&d, "; reads everywhere but secrets (.ssh, .gnupg, .aws, .env, *.key, *.pem, credentials, ...) in "
                     "home directories and the workspace, at any depth (their names stay listable)");
        if (sb->partial)
            buf_printf(&d, " - partial: %s has more than %d entries, the rest was not checked for secrets",
                       sb->partial_area, sb->scan_budget);
        if (sb->scratch[0])
            buf_printf(&d, "; TMPDIR=%s (files made in /tmp itself are not readable: it holds the workspace or a home)",
                       sb->scratch);
    } else if (ll_errno == ENOSYS || ll_errno == EOPNOTSUPP) {
        buf_printf(&d, "files not sandboxed: Landlock %s in this kernel",
                   ll_errno == ENOSYS ? "is not built" : "is disabled");
    } else {
        buf_printf(&d, "files not sandboxed: Landlock unavailable (%s)", strerror(ll_errno ? ll_errno : EINVAL));
    }
    if (sb->allow_network) buf_puts(&d, "; network allowed (configured)");
    else if (sb->netns)
        buf_printf(&d, "; network blocked (own network namespace%s%s)", sb->netns_userns ? " in a user namespace" : "",
                   sb->net_tcp ? " and Landlock TCP rules" : "");
    else if (sb->net_tcp) buf_puts(&d, "; network: TCP blocked by Landlock, UDP not restricted");
    else buf_puts(&d, "; network not restricted");
    if (sb->scoped) buf_puts(&d, "; cannot signal processes outside the sandbox");
    snprintf(sb->detail, sizeof sb->detail, "%s", buf_str(&d));
    buf_free(&d);
}

int psy_sandbox_init(psy_sandbox *sb, const psy_sandbox_config *cfg)
{
    memset(sb, 0, sizeof *sb);
    sb->ruleset_fd = -1;
    if (!cfg || !cfg->workspace) return -EINVAL;
    sb->uid = (unsigned)getuid();
    sb->gid = (unsigned)getgid();
    sb->enabled = cfg->enabled;
    sb->in_bwrap = cfg->inner;
    sb->secrets = cfg->secrets;
    /* Psyche's own /proc entries (environ, fd/0, mem) become root's: a
     * command of the same user cannot read or open them. */
    sb->nondumpable = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0;
    if (!cfg->inner) psy__seccomp_probe(sb); /* inside bubblewrap the helper decides */
    if (!cfg->enabled) {
        snprintf(sb->workspace, sizeof sb->workspace, "%s", cfg->workspace);
        snprintf(sb->bwrap_why, sizeof sb->bwrap_why, "the sandbox is disabled in the configuration");
        snprintf(sb->detail, sizeof sb->detail, "not sandboxed: disabled in the configuration");
        return 0;
    }
    if (!realpath(cfg->workspace, sb->workspace)) snprintf(sb->workspace, sizeof sb->workspace, "%s", cfg->workspace);
    /* Taken now: the rules are rebuilt later with the same home. Inside
     * bubblewrap no home is mounted ($HOME is the private /tmp). */
    const char *h = cfg->inner ? NULL : getenv("HOME");
    if (!h || !*h || !realpath(h, sb->home)) sb->home[0] = 0;
    sb->allow_network = cfg->allow_network;
    sb->allow_tmp = cfg->allow_tmp;
    sb->scan_budget = cfg->scan_budget > 0 ? cfg->scan_budget : 20000;
    size_t nx = 0;
    while (cfg->extra_write && cfg->extra_write[nx]) nx++;
    if (nx) {
        sb->extra_write = calloc(nx + 1, sizeof *sb->extra_write);
        for (size_t i = 0; sb->extra_write && i < nx; i++) sb->extra_write[i] = strdup(cfg->extra_write[i]);
    }

    long abi = ll_create(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    int ll_errno = abi < 0 ? errno : 0;
    sb->abi = abi > 0 ? (int)abi : 0;

    if (!cfg->allow_network && !cfg->inner) { /* inside bubblewrap: its own network namespace already */
        int r = probe_netns(sb->uid, sb->gid);
        sb->netns = r > 0;
        sb->netns_userns = r == 2;
    }
    const char *force = getenv("PSYCHE_SANDBOX");
    if (cfg->inner) snprintf(sb->bwrap_why, sizeof sb->bwrap_why, "inside bubblewrap already");
    else if (cfg->no_bwrap || (force && strcmp(force, "landlock") == 0))
        snprintf(sb->bwrap_why, sizeof sb->bwrap_why, "bubblewrap not used: forced off (%s)",
                 cfg->no_bwrap ? "configuration" : "PSYCHE_SANDBOX=landlock");
    else psy__bwrap_probe(sb);
    if (sb->bwrap) {
        psy__bwrap_detail(sb);
        log_info("sandbox: %s", sb->detail);
        return 0;
    }
    if (sb->abi > 0) {
        /* /tmp on the way to the workspace or a home is granted entry by
         * entry, so files made in it later are unreadable: compilers and test
         * runners get a scratch TMPDIR of their own instead. */
        if (sb->allow_tmp && !sb->in_bwrap && (is_area(sb, "/tmp") || leads_to_area(sb, "/tmp"))) {
            snprintf(sb->scratch, sizeof sb->scratch, "/tmp/psyche-sandbox-XXXXXX");
            if (!mkdtemp(sb->scratch)) {
                log_warn("sandbox: cannot make a scratch directory in /tmp: %s", strerror(errno));
                sb->scratch[0] = 0;
            }
        }
        int rc = build_ruleset(sb);
        if (rc) ll_errno = -rc;
    }
    make_detail(sb, ll_errno);
    log_info("sandbox: %s (%d rules)", sb->detail, sb->rules);
    return 0;
}

int psy_sandbox_refresh(psy_sandbox *sb)
{
    if (sb && sb->enabled && sb->bwrap) psy__bwrap_detail(sb); /* the count of hidden files */
    if (!sb || !sb->enabled || !sb->fs) return 0;
    if (!watched_changed(sb)) return 0; /* nothing new where a grant is entry by entry */
    int rc = build_ruleset(sb);
    make_detail(sb, rc ? -rc : 0);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    (void)remove(path); /* best effort: what stays is reported by the caller's rmdir */
    return 0;
}

void psy_sandbox_free(psy_sandbox *sb)
{
    if (!sb) return;
    if (sb->ruleset_fd >= 0) close(sb->ruleset_fd);
    sb->ruleset_fd = -1;
    sb->fs = false;
    if (sb->scratch[0]) nftw(sb->scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    sb->scratch[0] = 0;
    for (size_t i = 0; sb->extra_write && sb->extra_write[i]; i++) free(sb->extra_write[i]);
    free(sb->extra_write);
    sb->extra_write = NULL;
    unwatch_all(sb);
    free(sb->watch);
    sb->watch = NULL;
    sb->cap_watch = 0;
}

int psy_sandbox_expected(const psy_sandbox *sb)
{
    if (!sb || !sb->enabled) return 0;
    int sec = sb->seccomp ? PSY_SB_SECCOMP : 0;
    if (sb->bwrap) return sec;
    return (sb->fs ? PSY_SB_FS : 0) | (sb->netns ? PSY_SB_NETNS : 0) | (sb->fs && sb->net_tcp ? PSY_SB_NETLL : 0) | sec;
}

/* Drops every capability (bounding set first, so an exec as root gains
 * none back): a command run by root cannot use CAP_SYS_PTRACE to read
 * psyche's /proc entries or CAP_DAC_OVERRIDE around the rules.
 * Async-signal-safe. */
static void drop_capabilities(void)
{
    for (int c = 0; c < 64; c++) prctl(PR_CAPBSET_DROP, c, 0, 0, 0); /* EINVAL past the last one */
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    syscall(SYS_capset, &h, d);
}

int psy_sandbox_enter(const psy_sandbox *sb)
{
    if (!sb || !sb->enabled) return 0;
    int applied = 0;
    if (sb->seccomp && psy_seccomp_deny_tty_push() == 0) applied |= PSY_SB_SECCOMP;
    if (sb->bwrap)
        return applied; /* bwrap makes the namespaces (and drops capabilities); Landlock would forbid its mounts */
    /* The namespace first: writing uid_map is a write Landlock would refuse. */
    if (sb->netns && enter_netns(sb->uid, sb->gid, sb->netns_userns) > 0) applied |= PSY_SB_NETNS;
    drop_capabilities(); /* after the namespace: a plain CLONE_NEWNET needs CAP_SYS_ADMIN when run as root */
    if (sb->fs && sb->ruleset_fd >= 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
            syscall(SYS_landlock_restrict_self, sb->ruleset_fd, 0) == 0) {
            applied |= PSY_SB_FS;
            if (sb->net_tcp) applied |= PSY_SB_NETLL;
        }
    }
    return applied;
}
