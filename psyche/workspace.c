/* workspace.c - path confinement and the sensitive-path check; see workspace.h. */
#include "workspace.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "buf.h"
#include "fs.h"

int psy_ws_open(psy_workspace *ws, const char *dir, bool create, char *err, size_t errlen)
{
    memset(ws, 0, sizeof *ws);
    ws->root_fd = -1;
    if (!dir || !*dir) {
        snprintf(err, errlen, "workspace directory is not set");
        return -EINVAL;
    }
    if (create) {
        int rc = fs_mkdir_p(dir, 0755);
        if (rc) {
            snprintf(err, errlen, "cannot create workspace '%s': %s", dir, strerror(-rc));
            return rc;
        }
    }
    char *r = realpath(dir, NULL);
    if (!r) {
        int e = errno;
        snprintf(err, errlen, "workspace '%s': %s", dir, strerror(e));
        return -e;
    }
    struct stat st;
    if (stat(r, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "workspace '%s' is not a directory", dir);
        free(r);
        return -ENOTDIR;
    }
    ws->root_fd = open(r, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (ws->root_fd < 0) {
        int e = errno;
        snprintf(err, errlen, "workspace '%s': %s", dir, strerror(e));
        free(r);
        return -e;
    }
    ws->root = r;
    ws->root_len = strlen(r);
    const char *force = getenv("PSYCHE_NO_OPENAT2");
    ws->no_openat2 = force && *force && strcmp(force, "0") != 0;
    if (!ws->no_openat2) {
        int fd = -1;
        ws->no_openat2 = psy_ws_openat(ws, ".", O_PATH | O_DIRECTORY, 0, &fd) == -ENOSYS;
        if (fd >= 0) close(fd);
    }
    return 0;
}

void psy_ws_close(psy_workspace *ws)
{
    if (!ws) return;
    free(ws->root);
    if (ws->root_fd > 0) close(ws->root_fd);
    memset(ws, 0, sizeof *ws);
    ws->root_fd = -1;
}

/* ---- opening beneath the root ------------------------------------------- */

static int openat2_beneath(const psy_workspace *ws, const char *rel, int flags, mode_t mode, int *fd)
{
    struct open_how how = {
        .flags = (unsigned)(flags | O_CLOEXEC),
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    for (int tries = 0; tries < 8; tries++) {
        long r = syscall(SYS_openat2, ws->root_fd, rel, &how, sizeof how);
        if (r >= 0) {
            *fd = (int)r;
            return 0;
        }
        if (errno != EAGAIN && errno != EINTR) return -errno; /* EAGAIN: a rename raced the lookup */
    }
    return -EAGAIN;
}

/* The fallback: one component at a time, never following a symlink. */
static int walk_beneath(const psy_workspace *ws, const char *rel, int flags, mode_t mode, int *fd)
{
    int cur = openat(ws->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0) return -errno;
    const char *p = rel;
    for (;;) {
        while (*p == '/') p++;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *q = p + n;
        while (*q == '/') q++;
        bool last = *q == 0;
        char comp[NAME_MAX + 1];
        if (n > NAME_MAX) {
            close(cur);
            return -ENAMETOOLONG;
        }
        memcpy(comp, p, n);
        comp[n] = 0;
        if (n == 0) strcpy(comp, ".");
        if (strcmp(comp, "..") == 0) {
            close(cur);
            return -EXDEV;
        }
        int next = last ? openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode)
                        : openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e2 = errno;
        struct stat lst;
        if (next < 0 && e2 == ENOTDIR && fstatat(cur, comp, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode))
            e2 = ELOOP; /* a symlink where a folder was expected: not followed */
        close(cur);
        if (next < 0) return -e2;
        if (last) {
            *fd = next;
            return 0;
        }
        cur = next;
        p = q;
    }
}

int psy_ws_openat(const psy_workspace *ws, const char *rel, int flags, mode_t mode, int *fd)
{
    *fd = -1;
    if (!ws || ws->root_fd < 0 || !rel) return -EINVAL;
    if (!*rel) rel = ".";
    if (!ws->no_openat2) return openat2_beneath(ws, rel, flags, mode, fd);
    return walk_beneath(ws, rel, flags, mode, fd);
}

int psy_ws_mkdirs(const psy_workspace *ws, const char *rel)
{
    int cur = openat(ws->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0) return -errno;
    const char *p = rel;
    int rc = 0;
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char comp[NAME_MAX + 1];
        if (n > NAME_MAX) {
            rc = -ENAMETOOLONG;
            break;
        }
        memcpy(comp, p, n);
        comp[n] = 0;
        p += n;
        if (strcmp(comp, ".") == 0) continue;
        if (strcmp(comp, "..") == 0) {
            rc = -EXDEV;
            break;
        }
        if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        int next = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            rc = errno == ELOOP ? -ELOOP : -errno;
            break;
        }
        close(cur);
        cur = next;
    }
    close(cur);
    return rc;
}

static bool inside(const psy_workspace *ws, const char *p)
{
    if (ws->root_len == 1) return p[0] == '/'; /* workspace "/" */
    return strncmp(p, ws->root, ws->root_len) == 0 && (p[ws->root_len] == 0 || p[ws->root_len] == '/');
}

const char *psy_ws_rel(const psy_workspace *ws, const char *abs)
{
    if (!abs || !inside(ws, abs)) return abs;
    if (ws->root_len == 1) return abs[1] ? abs + 1 : ".";
    return abs[ws->root_len] ? abs + ws->root_len + 1 : ".";
}

/* Appends the components of rest (which does not exist yet) to the resolved
 * prefix in out. ".." there cannot be resolved against the file system. */
static int append_rest(buf *out, const char *rest, const char *user, char *err, size_t errlen)
{
    const char *p = rest;
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 1 && p[0] == '.') {
            /* skip */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            snprintf(err, errlen, "Path '%s' uses '..' after a directory that does not exist", user);
            return -ELOOP;
        } else {
            if (out->len == 0 || out->data[out->len - 1] != '/') {
                if (buf_putc(out, '/')) return -ENOMEM;
            }
            if (buf_append(out, p, n)) return -ENOMEM;
        }
        p += n;
    }
    return 0;
}

/* path[0..len) checked (no NUL, not blank, not too long) and copied into
 * user as a string. 0 or a negative errno with err. */
static int user_path(const char *path, size_t len, char user[PATH_MAX], char *err, size_t errlen)
{
    if (len && memchr(path, 0, len)) {
        snprintf(err, errlen, "Path contains a NUL byte");
        return -EINVAL;
    }
    size_t k = 0;
    while (k < len && isspace((unsigned char)path[k])) k++;
    if (k == len) {
        snprintf(err, errlen, "Path is empty");
        return -EINVAL;
    }
    if (len >= PATH_MAX) {
        snprintf(err, errlen, "Path is too long (%zu bytes)", len);
        return -ENAMETOOLONG;
    }
    memcpy(user, path, len);
    user[len] = 0;
    return 0;
}

/* The longest prefix cand[0..*cut) (of its n bytes) that realpath resolves:
 * *res (caller frees) is that prefix resolved. Refuses a prefix that is a
 * dangling symlink. 0 or a negative errno with err. cand is left as it was. */
static int real_prefix(char *cand, size_t n, const char *user, char **res, size_t *cut, char *err, size_t errlen)
{
    size_t c = n; /* cand[0..c) is the prefix being tried */
    for (;;) {
        char save = cand[c];
        cand[c] = 0;
        *res = realpath(c ? cand : "/", NULL);
        int e = errno;
        cand[c] = save;
        if (*res) break;
        if (e != ENOENT) {
            if (e == ENOTDIR) snprintf(err, errlen, "Path '%s': a part of it is not a directory", user);
            else snprintf(err, errlen, "Path '%s': %s", user, strerror(e));
            return -e;
        }
        /* The prefix itself exists as a link whose target does not: refuse,
         * since creating it would create the target, wherever it points. */
        struct stat st;
        save = cand[c];
        cand[c] = 0;
        bool exists = lstat(cand, &st) == 0;
        cand[c] = save;
        if (exists) {
            snprintf(err, errlen, "Path '%s' goes through a symlink whose target does not exist", user);
            return -ELOOP;
        }
        size_t s = c;
        while (s > 0 && cand[s - 1] != '/') s--; /* start of the last component */
        if (s == 0) return -ENOENT;              /* cannot happen: cand is absolute */
        c = s - 1;                               /* the slash before it */
        while (c > 0 && cand[c - 1] == '/') c--;
    }
    *cut = c;
    return 0;
}

/* The resolved prefix res (consumed) joined with the rest of cand, checked to
 * be inside the workspace: *out (caller frees). 0 or a negative errno with err. */
static int join_checked(const psy_workspace *ws, char *res, const char *rest, const char *user, char **out, char *err,
                        size_t errlen)
{
    buf b = BUF_INIT;
    int rc = buf_puts(&b, res) ? -ENOMEM : 0;
    free(res);
    if (!rc && *rest) rc = append_rest(&b, rest, user, err, errlen);
    if (rc) {
        if (rc == -ENOMEM) snprintf(err, errlen, "out of memory");
    } else if (!inside(ws, buf_str(&b))) {
        snprintf(err, errlen, "Path '%s' is outside workspace '%s'", user, ws->root);
        rc = -EACCES;
    } else if (b.len >= PATH_MAX) {
        snprintf(err, errlen, "Path '%s' is too long", user);
        rc = -ENAMETOOLONG;
    }
    if (rc) {
        buf_free(&b);
        return rc;
    }
    *out = buf_detach(&b);
    return 0;
}

int psy_ws_resolve(const psy_workspace *ws, const char *path, size_t len, char **out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) err = dummy, errlen = sizeof dummy;
    *out = NULL;
    if (!path) len = 0;
    char user[PATH_MAX];
    int rc = user_path(path, len, user, err, errlen);
    if (rc) return rc;
    char cand[PATH_MAX + 2];
    int n =
        path[0] == '/' ? snprintf(cand, sizeof cand, "%s", user) : snprintf(cand, sizeof cand, "%s/%s", ws->root, user);
    if (n < 0 || (size_t)n >= PATH_MAX) {
        snprintf(err, errlen, "Path '%s' is too long", user);
        return -ENAMETOOLONG;
    }
    /* Drop trailing slashes (except the root's own). */
    while (n > 1 && cand[n - 1] == '/') cand[--n] = 0;
    /* Find the longest prefix realpath can resolve; the rest is joined to it. */
    char *res = NULL;
    size_t cut = 0;
    if ((rc = real_prefix(cand, (size_t)n, user, &res, &cut, err, errlen))) return rc;
    return join_checked(ws, res, cand + cut, user, out, err, errlen);
}

/* ---- sensitive paths ------------------------------------------------------ */

static const char *const sensitive_dirs[] = {
    ".ssh",   ".gnupg", ".gpg",    ".aws",    ".azure",           ".gcloud", ".kube", ".docker", ".password-store",
    ".netrc", ".npmrc", ".pypirc", ".pgpass", ".git-credentials", ".env",    NULL,
};
static const char *const sensitive_prefixes[] = {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".env.", NULL};
static const char *const sensitive_suffixes[] = {".pem", ".key", ".p12", ".pfx", ".gpg", ".keystore", ".jks", NULL};
static const char *const sensitive_stems[] = {"credentials", "secrets", "tokens", NULL};

static const char *name_rule(const char *s, size_t n)
{
    for (int i = 0; sensitive_dirs[i]; i++)
        if (strlen(sensitive_dirs[i]) == n && strncasecmp(s, sensitive_dirs[i], n) == 0) return sensitive_dirs[i];
    for (int i = 0; sensitive_prefixes[i]; i++) {
        size_t l = strlen(sensitive_prefixes[i]);
        if (n >= l && strncasecmp(s, sensitive_prefixes[i], l) == 0) return sensitive_prefixes[i];
    }
    for (int i = 0; sensitive_suffixes[i]; i++) {
        size_t l = strlen(sensitive_suffixes[i]);
        if (n > l && strncasecmp(s + n - l, sensitive_suffixes[i], l) == 0) return sensitive_suffixes[i];
    }
    size_t stem = 0;
    while (stem < n && s[stem] != '.') stem++;
    for (int i = 0; sensitive_stems[i]; i++)
        if (strlen(sensitive_stems[i]) == stem && strncasecmp(s, sensitive_stems[i], stem) == 0)
            return sensitive_stems[i];
    return NULL;
}

bool psy_name_sensitive(const char *name) { return name && name_rule(name, strlen(name)) != NULL; }

bool psy_path_sensitive(const char *path, const char **what)
{
    if (what) *what = NULL;
    if (!path) return false;
    const char *p = path, *prev = NULL;
    size_t prevn = 0;
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *r = name_rule(p, n);
        if (!r && prev && prevn == 7 && strncasecmp(prev, ".config", 7) == 0 && n == 2 && strncasecmp(p, "gh", 2) == 0)
            r = ".config/gh";
        if (r) {
            if (what) *what = r;
            return true;
        }
        prev = p;
        prevn = n;
        p += n;
    }
    return false;
}
