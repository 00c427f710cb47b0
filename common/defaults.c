/* defaults.c - first-run copy of the shipped default configs (see defaults.h). */
#include "defaults.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "fs.h"
#include "paths.h"
#include "util.h"

#define DEFAULTS_SHARE_REL "/../share/psyche" /* from the folder holding the binary */

int defaults_share_dir(char **out, char *err, size_t errlen)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0 || (size_t)n >= sizeof exe - 1) {
        int rc = n < 0 ? -errno : -ENAMETOOLONG;
        snprintf(err, errlen, "cannot find this program's own path in /proc/self/exe: %s", strerror(-rc));
        return rc;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    buf b = BUF_INIT;
    if (buf_printf(&b, "%s" DEFAULTS_SHARE_REL, exe)) {
        buf_free(&b);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *out = buf_detach(&b);
    return 0;
}

/* Writes data to a temporary file next to dest and links it to dest: dest
 * appears complete or not at all, and an existing dest is kept (-EEXIST). */
static int link_new_file(const char *dest, const char *data, size_t len)
{
    buf tmp = BUF_INIT;
    if (buf_printf(&tmp, "%s.new.XXXXXX", dest)) return -ENOMEM;
    int fd = mkstemp(tmp.data);
    if (fd < 0) {
        int rc = -errno;
        buf_free(&tmp);
        return rc;
    }
    int rc = 0;
    for (size_t off = 0; off < len && !rc;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno != EINTR) rc = -errno;
        if (w > 0) off += (size_t)w;
    }
    if (!rc && fchmod(fd, 0644)) rc = -errno;
    if (!rc && fsync(fd)) rc = -errno;
    if (close(fd) && !rc) rc = -EIO;
    if (!rc && link(tmp.data, dest)) rc = -errno;
    unlink(tmp.data);
    buf_free(&tmp);
    return rc;
}

int defaults_seed(const char *program, const char *share_dir, bool *seeded, char *err, size_t errlen)
{
    char *own_share = NULL, *dir = NULL, *data = NULL;
    buf src = BUF_INIT, dest = BUF_INIT;
    size_t len = 0;
    if (seeded) *seeded = false;
    int rc = share_dir ? 0 : defaults_share_dir(&own_share, err, errlen);
    if (rc) return rc;
    if (buf_printf(&src, "%s/%s.toml", share_dir ? share_dir : own_share, program)) rc = -ENOMEM;
    if (!rc && access(src.data, R_OK) != 0) goto done; /* nothing shipped: the source tree */
    if (!rc && (rc = paths_dir_create(PATHS_CONFIG, &dir, err, errlen))) goto done;
    if (!rc && buf_printf(&dest, "%s/%s.toml", dir, program)) rc = -ENOMEM;
    if (!rc && access(dest.data, F_OK) == 0) goto done; /* the user's file: never touched */
    if (!rc && (rc = read_file_all(src.data, CFG_MAX_FILE, &data, &len)))
        snprintf(err, errlen, "cannot read the default config %s: %s", src.data, strerror(-rc));
    if (!rc) {
        rc = link_new_file(dest.data, data, len);
        if (rc == -EEXIST) rc = 0; /* another program seeded it first */
        else if (rc)
            snprintf(err, errlen, "cannot write %s (from %s): %s; create it yourself or fix the folder's permissions",
                     dest.data, src.data, strerror(-rc));
        else if (seeded) *seeded = true;
    }
done:
    if (rc == -ENOMEM) snprintf(err, errlen, "out of memory");
    free(own_share);
    free(dir);
    free(data);
    buf_free(&src);
    buf_free(&dest);
    return rc;
}
