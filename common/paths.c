/* paths.c - resolves the XDG data, config, state and cache folders (see
 * paths.h). Reads the environment on every call (tests and children may
 * change it); holds no state. */
#include "paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fs.h"

typedef struct base {
    const char *name, *var, *home_rel;
} base;

static const base bases[] = {
    [PATHS_DATA] = {"data", "XDG_DATA_HOME", ".local/share"},
    [PATHS_CONFIG] = {"config", "XDG_CONFIG_HOME", ".config"},
    [PATHS_STATE] = {"state", "XDG_STATE_HOME", ".local/state"},
    [PATHS_CACHE] = {"cache", "XDG_CACHE_HOME", ".cache"},
};

static const base *base_of(paths_kind kind)
{
    return (unsigned)kind < sizeof bases / sizeof bases[0] ? &bases[kind] : NULL;
}

const char *paths_kind_name(paths_kind kind)
{
    const base *b = base_of(kind);
    return b ? b->name : "unknown";
}

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    return h && h[0] == '/' ? h : NULL;
}

int paths_dir(paths_kind kind, char **out, char *err, size_t errlen)
{
    const base *b = base_of(kind);
    if (!b) {
        snprintf(err, errlen, "unknown folder kind %d", (int)kind);
        return -EINVAL;
    }
    const char *v = getenv(b->var), *home = home_dir();
    buf p = BUF_INIT;
    int rc;
    if (v && v[0] == '/') rc = buf_printf(&p, "%s/" PATHS_APP, v);
    else if (home) rc = buf_printf(&p, "%s/%s/" PATHS_APP, home, b->home_rel);
    else {
        snprintf(err, errlen, "cannot find the %s folder: set $%s or $HOME to an absolute path", b->name, b->var);
        return -ENOENT;
    }
    if (rc) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    *out = buf_detach(&p);
    return 0;
}

int paths_file(paths_kind kind, const char *name, char **out, char *err, size_t errlen)
{
    char *dir = NULL;
    int rc = paths_dir(kind, &dir, err, errlen);
    if (rc) return rc;
    buf p = BUF_INIT;
    rc = buf_printf(&p, "%s/%s", dir, name);
    free(dir);
    if (rc) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    *out = buf_detach(&p);
    return 0;
}

int paths_dir_create(paths_kind kind, char **out, char *err, size_t errlen)
{
    char *dir = NULL;
    int rc = paths_dir(kind, &dir, err, errlen);
    if (rc) return rc;
    rc = fs_mkdir_p(dir, FS_DIR_MODE_PRIVATE);
    if (rc) {
        snprintf(err, errlen, "cannot create the %s folder %s: %s", paths_kind_name(kind), dir, strerror(-rc));
        free(dir);
        return rc;
    }
    *out = dir;
    return 0;
}

int paths_default_db(char **out, char *err, size_t errlen)
{
    return paths_file(PATHS_DATA, PATHS_MEMORY_DB, out, err, errlen);
}

int paths_expand_home(const char *path, char **out, char *err, size_t errlen)
{
    buf p = BUF_INIT;
    int rc;
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
        const char *home = home_dir();
        if (!home) {
            snprintf(err, errlen, "%s starts with ~ but $HOME is not set to an absolute path; give an absolute path",
                     path);
            return -ENOENT;
        }
        rc = buf_printf(&p, "%s%s", home, path + 1);
    } else {
        rc = buf_puts(&p, path);
    }
    if (rc) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    *out = buf_detach(&p);
    return 0;
}
