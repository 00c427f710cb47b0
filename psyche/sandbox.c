/* sandbox.c - Landlock ruleset and namespaces for execute_bash; see sandbox.h.
 *
 * The Debian 12 kernel headers describe Landlock ABI 1-2 only, so the later
 * structure fields and flags are declared here; the kernel is asked for its
 * ABI and only what it knows is used. */
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

/* ---- read rules: everything but the secrets in home directories --------- */

typedef struct read_walk {
    psy_sandbox *sb;
    char home[PATH_MAX]; /* realpath of $HOME, or "" */
    int budget;          /* entries left to visit */
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

static bool is_home(const read_walk *w, const char *p)
{
    return strcmp(p, "/root") == 0 || parent_is(p, "/home") || (w->home[0] && strcmp(p, w->home) == 0);
}

/* Directories whose entries are granted one by one instead of as a whole. */
static bool needs_descent(const read_walk *w, const char *p)
{
    if (strcmp(p, "/home") == 0 || is_home(w, p)) return true;
    size_t n = strlen(p);
    if (w->home[0] && strncmp(w->home, p, n) == 0 && w->home[n] == '/') return true; /* ancestor of $HOME */
    if (strcmp(base_of(p), ".config") == 0) {
        char parent[PATH_MAX];
        snprintf(parent, sizeof parent, "%.*s", (int)(base_of(p) - p - 1), p);
        return is_home(w, parent);
    }
    return false;
}

static void grant_reads(read_walk *w, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) && w->budget > 0) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        w->budget--;
        char p[PATH_MAX];
        int n = snprintf(p, sizeof p, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);
        if (n < 0 || (size_t)n >= sizeof p) continue;
        /* Only home areas are descended into, so below "/" every secret name is left out. */
        if (strcmp(dir, "/") != 0 && psy_name_sensitive(name)) continue;
        if (strcmp(name, "gh") == 0 && strcmp(base_of(dir), ".config") == 0) continue;
        if (depth < 6 && needs_descent(w, p)) {
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
                grant_reads(w, p, depth + 1);
                continue;
            }
        }
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

int psy_sandbox_init(psy_sandbox *sb, const psy_sandbox_config *cfg)
{
    memset(sb, 0, sizeof *sb);
    sb->ruleset_fd = -1;
    if (!cfg || !cfg->workspace) return -EINVAL;
    sb->uid = (unsigned)getuid();
    sb->gid = (unsigned)getgid();
    sb->enabled = cfg->enabled;
    if (!cfg->enabled) {
        snprintf(sb->detail, sizeof sb->detail, "not sandboxed: disabled in the configuration");
        return 0;
    }

    long abi = ll_create(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    int ll_errno = abi < 0 ? errno : 0;
    sb->abi = abi > 0 ? (int)abi : 0;

    if (!cfg->allow_network) {
        int r = probe_netns(sb->uid, sb->gid);
        sb->netns = r > 0;
        sb->netns_userns = r == 2;
    }

    buf fsdesc = BUF_INIT;
    if (sb->abi > 0) {
        struct psy_ll_ruleset_attr attr = {.handled_access_fs = fs_handled(sb->abi)};
        size_t size = sizeof(uint64_t);
        if (sb->abi >= 4) {
            size = 2 * sizeof(uint64_t);
            if (!cfg->allow_network) attr.handled_access_net = PSY_LL_NET_BIND_TCP | PSY_LL_NET_CONNECT_TCP;
        }
        if (sb->abi >= 6) {
            size = sizeof attr;
            attr.scoped = PSY_LL_SCOPE_SIGNAL;
            if (!cfg->allow_network) attr.scoped |= PSY_LL_SCOPE_ABSTRACT_UNIX_SOCKET;
        }
        long fd = ll_create(&attr, size, 0);
        if (fd < 0) {
            ll_errno = errno;
            sb->abi = 0;
        } else {
            sb->ruleset_fd = (int)fd;
            fcntl(sb->ruleset_fd, F_SETFD, FD_CLOEXEC);
            sb->net_tcp = attr.handled_access_net != 0;
            sb->scoped = attr.scoped != 0;

            read_walk w = {.sb = sb, .budget = 8192};
            const char *h = getenv("HOME");
            if (h && *h && !realpath(h, w.home)) w.home[0] = 0;
            grant_reads(&w, "/", 0);
            add_rule(sb, "/", LANDLOCK_ACCESS_FS_READ_DIR); /* listings everywhere (names, not contents) */

            uint64_t all = fs_handled(sb->abi);
            int rc = add_rule(sb, cfg->workspace, all);
            if (rc) {
                log_warn("sandbox: cannot add the workspace %s: %s", cfg->workspace, strerror(-rc));
                close(sb->ruleset_fd);
                sb->ruleset_fd = -1;
                ll_errno = -rc;
            } else {
                buf_printf(&fsdesc, "writes only in %s", cfg->workspace);
                if (cfg->allow_tmp) {
                    static const char *const tmps[] = {"/tmp", "/var/tmp", "/dev/shm", NULL};
                    for (int i = 0; tmps[i]; i++)
                        if (add_rule(sb, tmps[i], all) == 0) buf_printf(&fsdesc, ", %s", tmps[i]);
                }
                for (int i = 0; cfg->extra_write && cfg->extra_write[i]; i++)
                    if (add_rule(sb, cfg->extra_write[i], all) == 0) buf_printf(&fsdesc, ", %s", cfg->extra_write[i]);
                static const char *const devs[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/tty", NULL};
                for (int i = 0; devs[i]; i++)
                    add_rule(sb, devs[i], LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE);
                buf_puts(&fsdesc, "; reads everywhere but secrets in home directories (.ssh, .gnupg, .aws, .env, ...; "
                                  "their names stay listable)");
                sb->fs = true;
            }
        }
    }

    buf d = BUF_INIT;
    if (sb->fs)
        buf_printf(&d, "landlock ABI %d: %s", sb->abi, buf_str(&fsdesc));
    else if (ll_errno == ENOSYS || ll_errno == EOPNOTSUPP)
        buf_printf(&d, "files not sandboxed: Landlock %s in this kernel",
                   ll_errno == ENOSYS ? "is not built" : "is disabled");
    else
        buf_printf(&d, "files not sandboxed: Landlock unavailable (%s)", strerror(ll_errno ? ll_errno : EINVAL));
    if (cfg->allow_network)
        buf_puts(&d, "; network allowed (configured)");
    else if (sb->netns)
        buf_printf(&d, "; network blocked (own network namespace%s%s)", sb->netns_userns ? " in a user namespace" : "",
                   sb->net_tcp ? " and Landlock TCP rules" : "");
    else if (sb->net_tcp)
        buf_puts(&d, "; network: TCP blocked by Landlock, UDP not restricted");
    else
        buf_puts(&d, "; network not restricted");
    if (sb->scoped) buf_puts(&d, "; cannot signal processes outside the sandbox");
    snprintf(sb->detail, sizeof sb->detail, "%s", buf_str(&d));
    buf_free(&d);
    buf_free(&fsdesc);
    log_info("sandbox: %s (%d rules)", sb->detail, sb->rules);
    return 0;
}

void psy_sandbox_free(psy_sandbox *sb)
{
    if (!sb) return;
    if (sb->ruleset_fd >= 0) close(sb->ruleset_fd);
    sb->ruleset_fd = -1;
    sb->fs = false;
}

bool psy_sandbox_active(const psy_sandbox *sb)
{
    return sb && sb->enabled && sb->fs;
}

const char *psy_sandbox_detail(const psy_sandbox *sb)
{
    if (!sb || !sb->detail[0]) return "not sandboxed: not set up";
    return sb->detail;
}

int psy_sandbox_expected(const psy_sandbox *sb)
{
    if (!sb || !sb->enabled) return 0;
    return (sb->fs ? PSY_SB_FS : 0) | (sb->netns ? PSY_SB_NETNS : 0) | (sb->fs && sb->net_tcp ? PSY_SB_NETLL : 0);
}

int psy_sandbox_enter(const psy_sandbox *sb)
{
    if (!sb || !sb->enabled) return 0;
    int applied = 0;
    /* The namespace first: writing uid_map is a write Landlock would refuse. */
    if (sb->netns && enter_netns(sb->uid, sb->gid, sb->netns_userns) > 0) applied |= PSY_SB_NETNS;
    if (sb->fs && sb->ruleset_fd >= 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
            syscall(SYS_landlock_restrict_self, sb->ruleset_fd, 0) == 0) {
            applied |= PSY_SB_FS;
            if (sb->net_tcp) applied |= PSY_SB_NETLL;
        }
    }
    return applied;
}
