/* secrets.c - the protected set of the workspace; see secrets.h. */
#include "secrets.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "utf8.h"
#include "workspace.h"

bool psy_secrets_has(const psy_secrets *s, const struct stat *st)
{
    for (size_t i = 0; s && i < s->n_ids; i++)
        if (s->ids[i].dev == st->st_dev && s->ids[i].ino == st->st_ino) return true;
    return false;
}

int psy_secrets_add(psy_secrets *s, const struct stat *st)
{
    if (psy_secrets_has(s, st)) return 0;
    if (s->n_ids == s->cap_ids) {
        size_t nc = s->cap_ids ? s->cap_ids * 2 : 16;
        psy_secret_id *v = realloc(s->ids, nc * sizeof *v);
        if (!v) return -ENOMEM;
        s->ids = v;
        s->cap_ids = nc;
    }
    s->ids[s->n_ids++] = (psy_secret_id){st->st_dev, st->st_ino};
    return 0;
}

static int add_path(psy_secrets *s, const char *rel, bool is_dir)
{
    if (s->n_paths == s->cap_paths) {
        size_t nc = s->cap_paths ? s->cap_paths * 2 : 16;
        char **v = realloc(s->paths, nc * sizeof *v);
        if (!v) return -ENOMEM;
        s->paths = v;
        bool *d = realloc(s->path_is_dir, nc * sizeof *d);
        if (!d) return -ENOMEM;
        s->path_is_dir = d;
        s->cap_paths = nc;
    }
    char *p = strdup(rel);
    if (!p) return -ENOMEM;
    s->path_is_dir[s->n_paths] = is_dir;
    s->paths[s->n_paths++] = p;
    return 0;
}

static void clear_paths(psy_secrets *s)
{
    for (size_t i = 0; i < s->n_paths; i++) free(s->paths[i]);
    s->n_paths = 0;
}

/* Marks everything beneath dfd protected (the contents of a protected folder). */
static int scan_dir(psy_secrets *s, int dfd, const char *rel, bool inherited, int depth);

static int scan_entry(psy_secrets *s, int dfd, const char *rel, const char *name, bool inherited, int depth)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return 0; /* gone meanwhile */
    s->scanned++;
    char p[PATH_MAX];
    int k = snprintf(p, sizeof p, "%s%s%s", rel, rel[0] ? "/" : "", name);
    if (k < 0 || (size_t)k >= sizeof p) return -ENAMETOOLONG;
    bool prot = inherited || psy_path_sensitive(p, NULL) || psy_secrets_has(s, &st);
    if (prot && !S_ISLNK(st.st_mode)) {
        if (psy_secrets_add(s, &st) || add_path(s, p, S_ISDIR(st.st_mode))) return -ENOMEM;
    }
    if (!S_ISDIR(st.st_mode)) return 0;
    if (depth + 1 > PSY_SECRETS_MAX_DEPTH) {
        snprintf(s->why, sizeof s->why, "'%.*s' is nested deeper than %d folders", utf8_prec(p, 180), p,
                 PSY_SECRETS_MAX_DEPTH);
        return -ELOOP;
    }
    int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) return 0; /* unreadable or replaced: the tools cannot open it either */
    return scan_dir(s, sub, p, prot, depth + 1);
}

static int scan_dir(psy_secrets *s, int dfd, const char *rel, bool inherited, int depth)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return -e;
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        rc = scan_entry(s, dirfd(d), rel, de->d_name, inherited, depth);
    }
    closedir(d);
    return rc;
}

int psy_secrets_scan(psy_secrets *s, int root_fd)
{
    clear_paths(s);
    s->complete = false;
    s->why[0] = 0;
    s->scanned = 0;
    int fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(s->why, sizeof s->why, "cannot open the workspace: %s", strerror(e));
        return -e;
    }
    int rc = scan_dir(s, fd, "", false, 0);
    if (rc && !s->why[0]) snprintf(s->why, sizeof s->why, "the scan failed: %s", strerror(-rc));
    s->complete = rc == 0;
    return rc;
}

void psy_secrets_free(psy_secrets *s)
{
    if (!s) return;
    clear_paths(s);
    free(s->paths);
    free(s->path_is_dir);
    free(s->ids);
    memset(s, 0, sizeof *s);
}
