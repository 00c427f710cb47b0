/* tools_fs.c - the file tools: read_file, create_file, edit_file,
 * list_directory and search_codebase (PCRE2 over the workspace).
 *
 * Every path goes through psy__tool_path (workspace confinement). Writers
 * never follow a symlink at the last component (O_NOFOLLOW / O_EXCL, or a
 * rename over it) and replace files atomically: temp file in the same
 * directory, fsync, rename. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <libgen.h>
#include <limits.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "tools.h"
#include "utf8.h"
#include "util.h"

#define LIST_MAX_ENTRIES 2000
#define SEARCH_MAX_FILE (4u << 20)
#define SEARCH_MAX_FILES 20000
#define SEARCH_LINE_MAX 400
#define WALK_MAX_DEPTH 64
#define SEARCH_MATCH_LIMIT 1000000 /* PCRE2 match() calls per line; a hit is a tool error */

static int arg_int(const cJSON *args, const char *k, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, k);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

static bool arg_bool(const cJSON *args, const char *k, bool def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static const char *arg_str(const cJSON *args, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static size_t count_lines(const char *s, size_t n)
{
    size_t lines = 0;
    for (size_t i = 0; i < n; i++) lines += s[i] == '\n';
    return lines + (n && s[n - 1] != '\n');
}

static bool sensitive_blocked(psy_tools *t, const char *rel, const char **rule)
{
    if (t->cfg.allow_sensitive && !(psy__tool_flags() & PSY_TOOL_STRICT_PATHS)) return false;
    return psy_path_sensitive(rel, rule);
}

/* Sets result.error for a failed psy_ws_openat of rel; returns rc. */
static int open_failed(cJSON *res, const char *rel, int rc)
{
    if (rc == -ENOENT) psy__tool_fail(res, "File not found: %s", rel);
    else if (rc == -EXDEV || rc == -ELOOP)
        psy__tool_fail(res,
                       "Path '%s' leads outside the workspace or through a symlink that changed while it was "
                       "opened; refused",
                       rel);
    else psy__tool_fail(res, "Cannot open %s: %s", rel, strerror(-rc));
    return rc;
}

int psy__tool_open(psy_tools *t, const char *rel, int flags, int *fd, cJSON *res)
{
    int rc = psy_ws_openat(&t->ws, rel, flags, 0, fd);
    return rc ? open_failed(res, rel, rc) : 0;
}

bool psy__tool_protected(psy_tools *t, const char *rel, const struct stat *st, const char *verb, cJSON *res)
{
    const char *rule;
    if (sensitive_blocked(t, rel, &rule)) {
        psy__tool_fail(res, "Refusing to %s '%s': it looks like a file holding secrets (%s)", verb, rel, rule);
        return true;
    }
    if (t->cfg.allow_sensitive && !(psy__tool_flags() & PSY_TOOL_STRICT_PATHS)) return false;
    if (psy_secrets_has(&t->secrets, st)) {
        psy__tool_fail(res,
                       "Refusing to %s '%s': it is a protected file (a secret renamed or linked under another "
                       "name)",
                       verb, rel);
        return true;
    }
    if (!t->secrets.complete) {
        psy__tool_fail(res, "Refusing to %s '%s': the workspace's secrets scan did not complete (%s)", verb, rel,
                       t->secrets.why[0] ? t->secrets.why : "not run");
        return true;
    }
    return false;
}

/* Reads all of fd (at most max bytes, else -EFBIG); *out is malloc'd and NUL-terminated. */
static int read_fd_all(int fd, size_t max, char **out, size_t *len)
{
    buf b = BUF_INIT;
    char tmp[65536];
    for (;;) {
        ssize_t k = read(fd, tmp, sizeof tmp);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            int e = errno;
            buf_free(&b);
            return -e;
        }
        if (k == 0) break;
        if (b.len + (size_t)k > max) {
            buf_free(&b);
            return -EFBIG;
        }
        if (buf_append(&b, tmp, (size_t)k)) {
            buf_free(&b);
            return -ENOMEM;
        }
    }
    *len = b.len;
    if (!b.data && buf_putc(&b, 0) == 0) b.len = 0;
    *out = buf_detach(&b);
    return *out ? 0 : -ENOMEM;
}

/* ---- read_file ------------------------------------------------------------- */

/* Opens rel for reading and checks the handle: a regular file, not
 * protected, within the size limit. Returns the fd or -1 (result.error set). */
static int open_regular(psy_tools *t, const char *rel, const char *verb, struct stat *st, cJSON *res)
{
    int fd;
    if (psy__tool_open(t, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, &fd, res)) return -1;
    if (fstat(fd, st) < 0) {
        psy__tool_fail(res, "Cannot read %s: %s", rel, strerror(errno));
    } else if (S_ISDIR(st->st_mode)) {
        psy__tool_fail(res, "'%s' is a directory; use list_directory", rel);
    } else if (!S_ISREG(st->st_mode)) {
        psy__tool_fail(res, "'%s' is not a regular file", rel);
    } else if (psy__tool_protected(t, rel, st, verb, res)) {
        /* error set */
    } else if ((size_t)st->st_size > t->cfg.max_file_size) {
        psy__tool_fail(res, "File too large: %s is %lld bytes (limit %zu)", rel, (long long)st->st_size,
                       t->cfg.max_file_size);
    } else {
        return fd;
    }
    close(fd);
    return -1;
}

static bool tool_read_file(psy_tools *t, void *ud, const cJSON *args, cJSON *res)
{
    (void)ud;
    char *path = psy__tool_path(t, args, "file_path", NULL, res);
    if (!path) return false;
    const char *rel = psy_ws_rel(&t->ws, path), *rule;
    bool ok = false;
    char *data = NULL;
    size_t len = 0;
    struct stat st;
    if (sensitive_blocked(t, rel, &rule)) {
        psy__tool_fail(res, "Refusing to read '%s': it looks like a file holding secrets (%s)", rel, rule);
        goto out;
    }
    int fd = open_regular(t, rel, "read", &st, res);
    if (fd < 0) goto out;
    int rc = read_fd_all(fd, t->cfg.max_file_size, &data, &len);
    close(fd);
    if (rc) {
        if (rc == -EFBIG) psy__tool_fail(res, "File too large: %s (limit %zu bytes)", rel, t->cfg.max_file_size);
        else psy__tool_fail(res, "Cannot read %s: %s", rel, strerror(-rc));
        goto out;
    }
    int max_lines = arg_int(args, "max_lines", 2000);
    if (max_lines <= 0) max_lines = 2000;
    size_t total = count_lines(data, len), cut = len, seen = 0;
    for (size_t i = 0; i < len && seen < (size_t)max_lines; i++) {
        if (data[i] == '\n' && ++seen == (size_t)max_lines) cut = i + 1;
    }
    psy__add_text(res, "content", data, cut);
    cJSON_AddStringToObject(res, "file_path", rel);
    cJSON_AddNumberToObject(res, "size_bytes", (double)len);
    cJSON_AddNumberToObject(res, "line_count", (double)(total < (size_t)max_lines ? total : (size_t)max_lines));
    cJSON_AddNumberToObject(res, "total_lines", (double)total);
    cJSON_AddBoolToObject(res, "truncated", total > (size_t)max_lines);
    if (!utf8_valid(data, len) || memchr(data, 0, len))
        cJSON_AddStringToObject(res, "note", "invalid UTF-8 or NUL bytes were replaced with U+FFFD");
    ok = true;
out:
    free(data);
    free(path);
    return ok;
}

/* ---- create_file / edit_file ------------------------------------------------- */

static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Replaces name in the directory dfd with data atomically: a temporary file
 * made with O_EXCL in the same directory (through the handle), fsync,
 * renameat. mode is applied to the new file. */
static int write_atomic_at(int dfd, const char *name, const char *data, size_t n, mode_t mode)
{
    char tmp[NAME_MAX + 1];
    int fd = -1;
    for (int tries = 0; tries < 16 && fd < 0; tries++) {
        char id[37];
        uuid4(id);
        int k = snprintf(tmp, sizeof tmp, ".%.*s.psyche-%.12s", utf8_prec(name, 200), name, id);
        if (k < 0 || (size_t)k >= sizeof tmp) return -ENAMETOOLONG;
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) return -errno;
    }
    if (fd < 0) return -EEXIST;
    int rc = write_all(fd, data, n);
    if (!rc && fchmod(fd, mode & 07777) < 0) rc = -errno;
    if (!rc && fsync(fd) < 0) rc = -errno;
    if (close(fd) < 0 && !rc) rc = -errno;
    if (!rc && renameat(dfd, tmp, dfd, name) < 0) rc = -errno;
    if (rc) unlinkat(dfd, tmp, 0);
    return rc;
}

/* Splits rel into its directory (malloc'd copy, "." when none) and base name (pointer into rel). */
static char *split_rel(const char *rel, const char **base)
{
    const char *s = strrchr(rel, '/');
    *base = s ? s + 1 : rel;
    return s ? strndup(rel, (size_t)(s - rel)) : strdup(".");
}

static bool tool_create_file(psy_tools *t, void *ud, const cJSON *args, cJSON *res)
{
    (void)ud;
    char *path = psy__tool_path(t, args, "file_path", NULL, res);
    if (!path) return false;
    const char *rel = psy_ws_rel(&t->ws, path), *base;
    const char *content = arg_str(args, "content");
    size_t n = content ? strlen(content) : 0;
    bool ok = false;
    int dfd = -1;
    char *dir = split_rel(rel, &base);
    if (!dir || strcmp(rel, ".") == 0) {
        psy__tool_fail(res, dir ? "'%s' is the workspace itself, not a file" : "out of memory", rel);
        goto out;
    }
    int rc = psy_ws_openat(&t->ws, dir, O_PATH | O_DIRECTORY, 0, &dfd);
    if (rc == -ENOENT) {
        if (!arg_bool(args, "create_dirs", true)) {
            psy__tool_fail(res, "Directory '%s' does not exist (set create_dirs to true to create it)", dir);
            goto out;
        }
        rc = psy_ws_mkdirs(&t->ws, dir);
        if (rc) {
            psy__tool_fail(res, "Cannot create directory '%s': %s", dir, strerror(-rc));
            goto out;
        }
        rc = psy_ws_openat(&t->ws, dir, O_PATH | O_DIRECTORY, 0, &dfd);
    }
    if (rc) {
        psy__tool_fail(res, rc == -ENOTDIR ? "'%s' is not a directory" : "Cannot open directory '%s': %s", dir,
                       strerror(-rc));
        goto out;
    }
    int fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        psy__tool_fail(
            res, errno == EEXIST ? "File '%s' already exists; use edit_file to change it" : "Cannot create '%s': %s",
            rel, strerror(errno));
        goto out;
    }
    rc = write_all(fd, content ? content : "", n);
    if (close(fd) < 0 && !rc) rc = -errno;
    if (rc) {
        unlinkat(dfd, base, 0);
        psy__tool_fail(res, "Cannot write '%s': %s", rel, strerror(-rc));
        goto out;
    }
    cJSON_AddStringToObject(res, "file_path", rel);
    cJSON_AddNumberToObject(res, "size_bytes", (double)n);
    cJSON_AddNumberToObject(res, "lines_written", (double)count_lines(content ? content : "", n));
    ok = true;
out:
    if (dfd >= 0) close(dfd);
    free(dir);
    free(path);
    return ok;
}

/* Writes base.bak (a copy of data, with the original's mode) and then the
 * edited text, both through dfd. Returns true, or false with result.error. */
static bool edit_write(int dfd, const char *rel, const char *base, const char *data, size_t len, const buf *edited,
                       mode_t mode, cJSON *res)
{
    char bak[NAME_MAX + 1];
    if (snprintf(bak, sizeof bak, "%s.bak", base) >= (int)sizeof bak)
        return psy__tool_fail(res, "Cannot write the backup of '%s': the name is too long; nothing was changed", rel);
    int rc = write_atomic_at(dfd, bak, data, len, mode);
    if (rc) return psy__tool_fail(res, "Cannot write the backup %s.bak: %s; nothing was changed", rel, strerror(-rc));
    rc = write_atomic_at(dfd, base, buf_str(edited), edited->len, mode);
    if (rc) return psy__tool_fail(res, "Cannot write '%s': %s; the file is unchanged", rel, strerror(-rc));
    return true;
}

/* Opens the file edit_file changes: its directory (*dfd) and the file itself
 * (*fd, *st), refusing secrets and protected files before the content is read.
 * false (res says why) otherwise; the caller closes what was opened. */
static bool open_for_edit(psy_tools *t, const char *rel, const char *dir, const char *base, int *dfd, int *fd,
                          struct stat *st, cJSON *res)
{
    /* Everything about a protected file is refused before its content is
     * looked at: a match/no-match answer would tell a guess from the truth. */
    const char *rule;
    if (sensitive_blocked(t, rel, &rule))
        return psy__tool_fail(res, "Refusing to edit '%s': it looks like a file holding secrets (%s)", rel, rule);
    if (psy__tool_open(t, dir, O_PATH | O_DIRECTORY, dfd, res)) return false;
    *fd = openat(*dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (*fd < 0)
        return psy__tool_fail(
            res, errno == ENOENT ? "File not found: %s (use create_file for new files)" : "Cannot read %s: %s", rel,
            strerror(errno));
    if (fstat(*fd, st) < 0 || !S_ISREG(st->st_mode)) return psy__tool_fail(res, "'%s' is not a regular file", rel);
    return !psy__tool_protected(t, rel, st, "edit", res);
}

/* data[0..len) with the one occurrence of olds replaced by news, into out;
 * *at is where it was. false (res says why) when olds is not there exactly once. */
static bool replace_once(const char *rel, const char *data, size_t len, const char *olds, const char *news, buf *out,
                         size_t *at, cJSON *res)
{
    size_t on = strlen(olds), count = 0;
    for (const char *p = data; (p = memmem(p, len - (size_t)(p - data), olds, on)); p += on) {
        if (count++ == 0) *at = (size_t)(p - data);
    }
    if (count == 0)
        return psy__tool_fail(res,
                              "old_string was not found in '%s'. Read the file again and copy the text exactly, "
                              "whitespace included.",
                              rel);
    if (count > 1)
        return psy__tool_fail(
            res, "old_string appears %zu times in '%s'; add surrounding context so it matches exactly once", count,
            rel);
    if (buf_append(out, data, *at) || buf_append(out, news ? news : "", news ? strlen(news) : 0) ||
        buf_append(out, data + *at + on, len - *at - on))
        return psy__tool_fail(res, "out of memory");
    return true;
}

static bool tool_edit_file(psy_tools *t, void *ud, const cJSON *args, cJSON *res)
{
    (void)ud;
    char *path = psy__tool_path(t, args, "file_path", NULL, res);
    if (!path) return false;
    const char *rel = psy_ws_rel(&t->ws, path), *base;
    const char *olds = arg_str(args, "old_string"), *news = arg_str(args, "new_string");
    char *data = NULL, *dir = split_rel(rel, &base);
    size_t len = 0, at = 0;
    buf out = BUF_INIT;
    bool ok = false;
    int dfd = -1, fd = -1;
    struct stat st;
    if (!dir) {
        psy__tool_fail(res, "out of memory");
        goto out;
    }
    if (!open_for_edit(t, rel, dir, base, &dfd, &fd, &st, res)) goto out;
    int rc = read_fd_all(fd, t->cfg.max_file_size, &data, &len);
    if (rc) {
        psy__tool_fail(res, "Cannot read %s: %s", rel, rc == -EFBIG ? "file too large" : strerror(-rc));
        goto out;
    }
    if (!replace_once(rel, data, len, olds, news, &out, &at, res)) goto out;
    if (!edit_write(dfd, rel, base, data, len, &out, st.st_mode, res)) goto out;
    char bakrel[PATH_MAX];
    snprintf(bakrel, sizeof bakrel, "%s.bak", rel);
    cJSON_AddStringToObject(res, "file_path", rel);
    cJSON_AddNumberToObject(res, "size_bytes", (double)out.len);
    cJSON_AddBoolToObject(res, "backup_created", true);
    cJSON_AddStringToObject(res, "backup_path", bakrel);
    cJSON_AddNumberToObject(res, "line", (double)(count_lines(data, at) + (at == 0 || data[at - 1] == '\n')));
    cJSON_AddNumberToObject(res, "chars_replaced", (double)strlen(olds));
    cJSON_AddNumberToObject(res, "chars_inserted", (double)(news ? strlen(news) : 0));
    ok = true;
out:
    if (fd >= 0) close(fd);
    if (dfd >= 0) close(dfd);
    buf_free(&out);
    free(dir);
    free(data);
    free(path);
    return ok;
}

/* ---- walking the workspace ----------------------------------------------------- */

/* Called for each entry; dfd is a handle on the directory holding it, rel
 * is relative to the walk's start. Returns 0 to go on, 1 to stop the walk. */
typedef int (*walk_fn)(void *ud, int dfd, const char *rel, const char *name, const struct stat *lst);

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The sorted names of the directory dfd (not closed). *n_out entries, caller frees each and the array. */
static char **read_names(int dfd, size_t *n_out)
{
    *n_out = 0;
    int dup_fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0) close(dup_fd);
        return NULL;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) break;
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    *n_out = n;
    return names;
}

/* Sorted, depth-first, through directory handles: never follows a symlink
 * (each level is opened with O_NOFOLLOW from its parent's handle, so a folder
 * swapped for a symlink is not entered); does not enter .git. */
static int walk(psy_tools *t, int dfd, const char *rel, bool recursive, int depth, walk_fn fn, void *ud)
{
    size_t n;
    char **names = read_names(dfd, &n);
    int stop = 0;
    for (size_t i = 0; i < n; i++) {
        if (stop || atomic_load(&t->cancel)) {
            stop = 1;
            free(names[i]);
            continue;
        }
        char r[PATH_MAX];
        int kr = rel[0] ? snprintf(r, sizeof r, "%s/%s", rel, names[i]) : snprintf(r, sizeof r, "%s", names[i]);
        struct stat st;
        if (kr > 0 && (size_t)kr < sizeof r && fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
            stop = fn(ud, dfd, r, names[i], &st);
            if (!stop && recursive && S_ISDIR(st.st_mode) && strcmp(names[i], ".git") != 0 && depth < WALK_MAX_DEPTH) {
                int sub = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub >= 0) {
                    stop = walk(t, sub, r, true, depth + 1, fn, ud);
                    close(sub);
                }
            }
        }
        free(names[i]);
    }
    free(names);
    return stop;
}

/* A glob without '/' matches the name; with one, the relative path ("**" /
 * leading "**\/" are treated as "*"). */
static bool glob_match(const char *pat, const char *rel, const char *name)
{
    if (!pat || !*pat) return true;
    while (strncmp(pat, "**/", 3) == 0) pat += 3;
    if (!strchr(pat, '/')) return fnmatch(pat, name, 0) == 0;
    return fnmatch(pat, rel, 0) == 0;
}

/* ---- list_directory ----------------------------------------------------------------- */

typedef struct list_ctx {
    const char *pattern;
    const char *base_rel; /* the listed dir relative to the workspace, "" for the root */
    cJSON *entries;
    int files, dirs, count;
    bool truncated;
} list_ctx;

static int list_one(void *ud, int dfd, const char *rel, const char *name, const struct stat *st)
{
    (void)dfd;
    list_ctx *c = ud;
    if (!glob_match(c->pattern, rel, name)) return 0;
    if (c->count >= LIST_MAX_ENTRIES) {
        c->truncated = true;
        return 1;
    }
    cJSON *e = cJSON_CreateObject();
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", c->base_rel, c->base_rel[0] ? "/" : "", rel);
    psy__add_text(e, "name", name, strlen(name));
    psy__add_text(e, "path", path, strlen(path));
    const char *type = S_ISDIR(st->st_mode)   ? "directory"
                       : S_ISREG(st->st_mode) ? "file"
                       : S_ISLNK(st->st_mode) ? "symlink"
                                              : "other";
    cJSON_AddStringToObject(e, "type", type);
    if (S_ISREG(st->st_mode)) cJSON_AddNumberToObject(e, "size", (double)st->st_size);
    cJSON_AddItemToArray(c->entries, e);
    c->count++;
    if (S_ISDIR(st->st_mode)) c->dirs++;
    else c->files++;
    return 0;
}

static bool tool_list_directory(psy_tools *t, void *ud, const cJSON *args, cJSON *res)
{
    (void)ud;
    char *path = psy__tool_path(t, args, "dir_path", ".", res);
    if (!path) return false;
    const char *rel = psy_ws_rel(&t->ws, path);
    struct stat st;
    bool ok = false;
    int dfd = -1, rc = psy_ws_openat(&t->ws, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, &dfd);
    if (rc == -ENOENT) {
        psy__tool_fail(res, "Directory not found: %s", rel);
    } else if (rc == -ENOTDIR || (rc == 0 && (fstat(dfd, &st) < 0 || !S_ISDIR(st.st_mode)))) {
        psy__tool_fail(res, "'%s' is not a directory; use read_file", rel);
    } else if (rc) {
        open_failed(res, rel, rc);
    } else {
        bool recursive = arg_bool(args, "recursive", false);
        list_ctx c = {.pattern = arg_str(args, "pattern"), .base_rel = strcmp(rel, ".") ? rel : ""};
        c.entries = cJSON_CreateArray();
        walk(t, dfd, "", recursive, 0, list_one, &c);
        cJSON_AddStringToObject(res, "directory", rel);
        cJSON_AddItemToObject(res, "entries", c.entries);
        cJSON_AddNumberToObject(res, "total_items", c.count);
        cJSON_AddNumberToObject(res, "file_count", c.files);
        cJSON_AddNumberToObject(res, "directory_count", c.dirs);
        cJSON_AddBoolToObject(res, "recursive", recursive);
        cJSON_AddBoolToObject(res, "truncated", c.truncated);
        if (c.truncated)
            cJSON_AddStringToObject(res, "note", "listing stopped at 2000 entries; narrow it with a pattern");
        ok = true;
    }
    if (dfd >= 0) close(dfd);
    free(path);
    return ok;
}

/* ---- search_codebase --------------------------------------------------------------- */

typedef struct search_ctx {
    psy_tools *t;
    pcre2_code *re;
    pcre2_match_data *md;
    const char *glob;
    int context, max_results, matches, files;
    bool truncated;
    int skipped_binary, skipped_large, skipped_sensitive;
    cJSON *out;
    pcre2_match_context *mctx;      /* the match limit */
    char limit_err[PATH_MAX + 160]; /* set when a match hit a PCRE2 resource limit */
} search_ctx;

static void add_line(cJSON *arr_or_obj, const char *key, const char *s, size_t n)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    size_t cut = n > SEARCH_LINE_MAX ? utf8_complete_prefix(s, SEARCH_LINE_MAX) : n;
    buf b = BUF_INIT;
    buf_append(&b, s, cut);
    if (cut < n) buf_printf(&b, " [... %zu more bytes]", n - cut);
    if (key) {
        psy__add_text(arr_or_obj, key, buf_str(&b), b.len);
    } else {
        cJSON *tmp = cJSON_CreateObject();
        cJSON *item = psy__add_text(tmp, "x", buf_str(&b), b.len);
        cJSON_DetachItemViaPointer(tmp, item);
        cJSON_AddItemToArray(arr_or_obj, item);
        cJSON_Delete(tmp);
    }
    buf_free(&b);
}

/* Reads the file search_codebase may look into: 1 with *data (caller frees)
 * and *len, 0 when it is skipped (secrets, protected, large, binary, unreadable;
 * counted in c), -1 when the walk must stop (too many files). */
static int read_candidate(search_ctx *c, int dfd, const char *rel, const char *name, char **data, size_t *len)
{
    const char *rule;
    if (sensitive_blocked(c->t, rel, &rule)) {
        c->skipped_sensitive++;
        return 0;
    }
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    cJSON *scratch = cJSON_CreateObject();
    bool prot = fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || psy__tool_protected(c->t, rel, &st, "read", scratch);
    cJSON_Delete(scratch);
    int rc = 0;
    if (prot) {
        c->skipped_sensitive++;
    } else if (st.st_size > (off_t)SEARCH_MAX_FILE) {
        c->skipped_large++;
    } else if (++c->files > SEARCH_MAX_FILES) {
        c->truncated = true;
        rc = -1;
    } else if (!read_fd_all(fd, SEARCH_MAX_FILE, data, len)) {
        rc = 1;
        if (memchr(*data, 0, *len < 8192 ? *len : 8192)) {
            c->skipped_binary++;
            free(*data);
            rc = 0;
        }
    }
    close(fd);
    return rc;
}

/* The offsets where the lines of data[0..len) start: *starts (caller frees), *nl of them. */
static int line_starts(const char *data, size_t len, size_t **starts, size_t *nl)
{
    size_t n = 1, cap = 256;
    size_t *st = malloc(cap * sizeof *st);
    if (!st) return -ENOMEM;
    st[0] = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n' || i + 1 >= len) continue;
        if (n == cap) {
            size_t *ns = realloc(st, (cap *= 2) * sizeof *ns);
            if (!ns) return free(st), -ENOMEM;
            st = ns;
        }
        st[n++] = i + 1;
    }
    *starts = st;
    *nl = n;
    return 0;
}

/* One match on line l (bytes s..e of data) with its context lines, added to c->out. */
static void add_match(search_ctx *c, const char *rel, const char *data, size_t len, const size_t *starts, size_t nl,
                      size_t l, size_t s, size_t e)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
    cJSON *m = cJSON_CreateObject();
    psy__add_text(m, "file", rel, strlen(rel));
    cJSON_AddNumberToObject(m, "line_number", (double)(l + 1));
    add_line(m, "line", data + s, e - s);
    if (ov[1] >= ov[0] && ov[1] <= e - s) add_line(m, "match", data + s + ov[0], ov[1] - ov[0]);
    if (c->context > 0) {
        cJSON *before = cJSON_AddArrayToObject(m, "before");
        cJSON *after = cJSON_AddArrayToObject(m, "after");
        for (size_t k = l >= (size_t)c->context ? l - (size_t)c->context : 0; k < l; k++)
            add_line(before, NULL, data + starts[k], starts[k + 1] - 1 - starts[k]);
        for (size_t k = l + 1; k < nl && k <= l + (size_t)c->context; k++) {
            size_t ke = k + 1 < nl ? starts[k + 1] - 1 : len;
            if (ke > starts[k] && data[ke - 1] == '\n') ke--;
            add_line(after, NULL, data + starts[k], ke - starts[k]);
        }
    }
    cJSON_AddItemToArray(c->out, m);
    c->matches++;
}

/* Matches every line of one file. Returns 1 when the walk must stop (enough
 * results, or the engine hit a resource limit: c->limit_err), else 0. */
static int search_lines(search_ctx *c, const char *rel, const char *data, size_t len, const size_t *starts, size_t nl)
{
    for (size_t l = 0; l < nl; l++) {
        size_t s = starts[l], e = l + 1 < nl ? starts[l + 1] - 1 : len;
        if (e > s && data[e - 1] == '\n' && l + 1 == nl) e--;
        int rc = pcre2_match(c->re, (PCRE2_SPTR)(data + s), e - s, 0, 0, c->md, c->mctx);
        if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT ||
            rc == PCRE2_ERROR_JIT_STACKLIMIT) {
            /* Not "no match": the engine gave up. Say so instead of answering 0 matches. */
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(rc, msg, sizeof msg);
            snprintf(c->limit_err, sizeof c->limit_err, "%s at %s line %zu", (char *)msg, rel, l + 1);
            return 1;
        }
        if (rc < 0) continue;
        if (c->matches >= c->max_results) {
            c->truncated = true;
            return 1;
        }
        add_match(c, rel, data, len, starts, nl, l, s, e);
    }
    return 0;
}

static int search_one(void *ud, int dfd, const char *rel, const char *name, const struct stat *lst)
{
    search_ctx *c = ud;
    if (!S_ISREG(lst->st_mode) || !glob_match(c->glob, rel, name)) return 0;
    char *data;
    size_t len, nl, *starts;
    int rc = read_candidate(c, dfd, rel, name, &data, &len);
    if (rc <= 0) return rc < 0 ? 1 : 0;
    int stop = 0;
    if (!line_starts(data, len, &starts, &nl)) { /* out of memory: the file is skipped */
        stop = search_lines(c, rel, data, len, starts, nl);
        free(starts);
    }
    free(data);
    return stop;
}

static bool tool_search_codebase(psy_tools *t, void *ud, const cJSON *args, cJSON *res)
{
    (void)ud;
    const char *pattern = arg_str(args, "pattern");
    search_ctx c = {.t = t, .glob = arg_str(args, "file_glob")};
    c.context = arg_int(args, "context_lines", 0);
    c.max_results = arg_int(args, "max_results", 100);
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    if (arg_bool(args, "case_insensitive", false)) opts |= PCRE2_CASELESS;
    int ecode;
    PCRE2_SIZE eoff;
    c.re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &ecode, &eoff, NULL);
    if (!c.re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ecode, msg, sizeof msg);
        return psy__tool_fail(res, "Invalid regex '%s': %s at offset %zu", pattern, (char *)msg, (size_t)eoff);
    }
    pcre2_jit_compile(c.re, PCRE2_JIT_COMPLETE);
    c.md = pcre2_match_data_create_from_pattern(c.re, NULL);
    c.mctx = pcre2_match_context_create(NULL);
    if (c.mctx) pcre2_set_match_limit(c.mctx, SEARCH_MATCH_LIMIT);
    c.out = cJSON_CreateArray();
    walk(t, t->ws.root_fd, "", true, 0, search_one, &c);
    bool cancelled = atomic_load(&t->cancel);
    pcre2_match_data_free(c.md);
    pcre2_match_context_free(c.mctx);
    pcre2_code_free(c.re);
    cJSON_AddItemToObject(res, "matches", c.out);
    cJSON_AddNumberToObject(res, "match_count", c.matches);
    cJSON_AddNumberToObject(res, "files_searched", c.files);
    cJSON_AddBoolToObject(res, "truncated", c.truncated || cancelled);
    cJSON_AddStringToObject(res, "pattern", pattern);
    if (c.glob) cJSON_AddStringToObject(res, "file_glob", c.glob);
    if (c.skipped_binary || c.skipped_large || c.skipped_sensitive) {
        cJSON *sk = cJSON_AddObjectToObject(res, "skipped");
        cJSON_AddNumberToObject(sk, "binary", c.skipped_binary);
        cJSON_AddNumberToObject(sk, "too_large", c.skipped_large);
        cJSON_AddNumberToObject(sk, "sensitive", c.skipped_sensitive);
    }
    if (c.truncated)
        cJSON_AddStringToObject(res, "note", "stopped at max_results; narrow the pattern or the file_glob");
    if (cancelled) return psy__tool_fail(res, "search cancelled");
    if (c.limit_err[0])
        return psy__tool_fail(res,
                              "The regex is too costly: PCRE2 stopped (%s), so the search is incomplete and "
                              "'no match' cannot be told. Simplify the pattern (avoid nested quantifiers such as "
                              "(a+)+ or (.*)*).",
                              c.limit_err);
    return true;
}

/* ---- registration ------------------------------------------------------------------ */

void psy__register_fs_tools(psy_tools *t)
{
    static const psy_tool_def defs[] = {
        {"read_file", "Read a text file in the workspace.",
         "{\"type\":\"object\",\"properties\":{"
         "\"file_path\":{\"type\":\"string\",\"minLength\":1,\"description\":\"path relative to the workspace\"},"
         "\"max_lines\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":100000,\"default\":2000,"
         "\"description\":\"return at most this many lines (0 means 2000)\"}},"
         "\"required\":[\"file_path\"]}",
         true, tool_read_file, NULL},
        {"create_file", "Create a new file with the given content (fails if it exists: use edit_file then).",
         "{\"type\":\"object\",\"properties\":{"
         "\"file_path\":{\"type\":\"string\",\"minLength\":1,\"description\":\"path relative to the workspace\"},"
         "\"content\":{\"type\":\"string\",\"description\":\"the whole file\"},"
         "\"create_dirs\":{\"type\":\"boolean\",\"default\":true,\"description\":\"create missing parent "
         "directories\"}},"
         "\"required\":[\"file_path\",\"content\"]}",
         false, tool_create_file, NULL},
        {"edit_file",
         "Replace one exact occurrence of old_string with new_string in a file (read it first; a .bak copy is kept).",
         "{\"type\":\"object\",\"properties\":{"
         "\"file_path\":{\"type\":\"string\",\"minLength\":1,\"description\":\"path relative to the workspace\"},"
         "\"old_string\":{\"type\":\"string\",\"minLength\":1,\"description\":\"text that occurs exactly once\"},"
         "\"new_string\":{\"type\":\"string\",\"description\":\"replacement (may be empty)\"}},"
         "\"required\":[\"file_path\",\"old_string\",\"new_string\"]}",
         false, tool_edit_file, NULL},
        {"list_directory", "List a directory of the workspace: names, types and sizes, sorted.",
         "{\"type\":\"object\",\"properties\":{"
         "\"dir_path\":{\"type\":\"string\",\"default\":\".\",\"description\":\"directory relative to the "
         "workspace\"},"
         "\"recursive\":{\"type\":\"boolean\",\"default\":false,\"description\":\"include subdirectories\"},"
         "\"pattern\":{\"type\":\"string\",\"description\":\"glob on the names, e.g. *.c\"}}}",
         true, tool_list_directory, NULL},
        {"search_codebase", "Search the workspace's text files with a regular expression (PCRE syntax).",
         "{\"type\":\"object\",\"properties\":{"
         "\"pattern\":{\"type\":\"string\",\"minLength\":1,\"description\":\"regular expression\"},"
         "\"file_glob\":{\"type\":\"string\",\"description\":\"only files matching this glob, e.g. *.py\"},"
         "\"context_lines\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":10,\"default\":0,"
         "\"description\":\"lines of context around each match\"},"
         "\"case_insensitive\":{\"type\":\"boolean\",\"default\":false},"
         "\"max_results\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000,\"default\":100}},"
         "\"required\":[\"pattern\"]}",
         true, tool_search_codebase, NULL},
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) psy_tools_register(t, &defs[i]);
}
