/* fs.c - mkdir -p, atomic file replacement and log tails (see fs.h).
 *
 * Owns no state. The only place in the project that creates folders with
 * their parents or replaces a file by rename; programs call these instead of
 * writing their own loops. */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "utf8.h"

#define TMP_SUFFIX ".tmp-XXXXXX"

static int mkdir_one(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0) return 0;
    int e = errno;
    struct stat st;
    if (e == EEXIST) return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
    return -e;
}

int fs_mkdir_p(const char *path, mode_t mode)
{
    if (!path || !*path) return -EINVAL;
    char *p = strdup(path);
    if (!p) return -ENOMEM;
    int rc = 0;
    for (char *s = p + 1; *s && !rc; s++) {
        if (*s != '/' || s[-1] == '/') continue;
        *s = '\0';
        rc = mkdir_one(p, mode);
        *s = '/';
    }
    if (!rc) rc = mkdir_one(p, mode);
    free(p);
    return rc;
}

int fs_mkdir_parent(const char *file_path, mode_t mode)
{
    const char *slash = strrchr(file_path, '/');
    if (!slash || slash == file_path) return 0;
    char *dir = strndup(file_path, (size_t)(slash - file_path));
    if (!dir) return -ENOMEM;
    int rc = fs_mkdir_p(dir, mode);
    free(dir);
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync of the folder holding path, so the rename itself is durable. */
static int sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return -ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return -errno;
    int rc = fsync(fd) < 0 && errno != EINVAL ? -errno : 0; /* some file systems cannot sync folders */
    close(fd);
    return rc;
}

int fs_write_file_atomic(const char *path, const void *data, size_t n, mode_t mode)
{
    buf tmp = BUF_INIT;
    if (buf_printf(&tmp, "%s" TMP_SUFFIX, path)) return -ENOMEM;
    int fd = mkostemp(tmp.data, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        buf_free(&tmp);
        return -e;
    }
    int rc = write_all(fd, data, n);
    if (!rc && fchmod(fd, mode & 07777) < 0) rc = -errno;
    if (!rc && fsync(fd) < 0) rc = -errno;
    if (close(fd) < 0 && !rc) rc = -errno;
    if (!rc && rename(tmp.data, path) < 0) rc = -errno;
    if (rc) unlink(tmp.data);
    else rc = sync_parent(path);
    buf_free(&tmp);
    return rc;
}

/* Start of the last max_lines lines of b[0..n) (a final newline ends the
 * last line, it does not start another). */
static size_t tail_start(const char *b, size_t n, size_t max_lines)
{
    if (max_lines == 0) return 0;
    size_t lines = 0;
    for (size_t i = n; i-- > 0;)
        if (b[i] == '\n' && i != n - 1 && ++lines == max_lines) return i + 1;
    return 0;
}

int fs_file_tail(const char *path, size_t max_bytes, size_t max_lines, char **out, size_t *len)
{
    if (max_bytes == 0) max_bytes = FS_TAIL_MAX_BYTES;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : !S_ISREG(st.st_mode) ? -EINVAL : 0;
    if (rc) {
        close(fd);
        return rc;
    }
    off_t from = st.st_size > (off_t)max_bytes ? st.st_size - (off_t)max_bytes : 0;
    char *b = malloc(max_bytes + 1);
    if (!b) {
        close(fd);
        return -ENOMEM;
    }
    size_t n = 0;
    while (n < max_bytes) {
        ssize_t r = pread(fd, b + n, max_bytes - n, from + (off_t)n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(b);
            close(fd);
            return -e;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    size_t start = tail_start(b, n, max_lines);
    if (start == 0 && from > 0) /* cut inside a line: begin on a character */
        while (start < n && ((unsigned char)b[start] & 0xC0) == 0x80 && start < UTF8_MAX_SEQ - 1) start++;
    memmove(b, b + start, n - start);
    n -= start;
    b[n] = '\0';
    *out = b;
    if (len) *len = n;
    return 0;
}
