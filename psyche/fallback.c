/* fallback.c - the fallback JSONL file for memories while mnemosyne is away:
 * appending (fsynced), counting, importing through store_memory.
 *
 * Owns the file format (one store_memory argument object per line). Part of
 * the memory-flow layer; calls nothing else in psyche/. */
#include "fallback.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fs.h"
#include "log.h"
#include "util.h"

/* The largest fallback file read back (a larger one is left for a person). */
#define FALLBACK_MAX_BYTES (256u << 20)


int psy_fallback_append(const char *path, const cJSON *args)
{
    char *line = cJSON_PrintUnformatted(args);
    if (!line) return -ENOMEM;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        free(line);
        log_error("cannot open the fallback memory file %s: %s", path, strerror(e));
        return -e;
    }
    buf b = BUF_INIT;
    int rc = buf_puts(&b, line) || buf_putc(&b, '\n') ? -ENOMEM : 0;
    free(line);
    for (size_t off = 0; !rc && off < b.len;) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) rc = -errno;
        else off += (size_t)w;
    }
    if (!rc && fsync(fd)) rc = -errno;
    close(fd);
    buf_free(&b);
    if (rc) log_error("cannot write the fallback memory file %s: %s", path, strerror(-rc));
    return rc;
}

int psy_fallback_count(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int n = 0, c, last = '\n';
    while ((c = getc(f)) != EOF) {
        if (c == '\n' && last != '\n') n++;
        last = c;
    }
    if (last != '\n') n++;
    (void)fclose(f); /* read-only: nothing to lose */
    return n;
}

/* Leaves only the kept lines in the file (removed when there are none),
 * rewritten atomically. Returns 0 or -errno. */
static int keep_lines(const char *path, const buf *keep)
{
    int rc = 0;
    if (keep->len == 0) {
        if (unlink(path) && errno != ENOENT) rc = -errno;
    } else {
        rc = fs_write_file_atomic(path, keep->data, keep->len, FS_FILE_MODE_PRIVATE);
    }
    if (rc) log_error("cannot rewrite the fallback file %s: %s", path, strerror(-rc));
    return rc;
}

int psy_fallback_import(const char *path, mcp_client *c, int timeout_ms, int *imported, int *failed)
{
    *imported = *failed = 0;
    char *text = NULL;
    size_t len = 0;
    int rc = read_file_all(path, FALLBACK_MAX_BYTES, &text, &len);
    if (rc == -ENOENT) return 0;
    if (rc) return rc;
    buf keep = BUF_INIT;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!*line) continue;
        cJSON *args = cJSON_Parse(line);
        if (!cJSON_IsObject(args)) {
            /* A torn last line from a crash: keep it for a person to look at. */
            log_warn("fallback file %s: a line is not a JSON object; kept", path);
            cJSON_Delete(args);
            buf_puts(&keep, line), buf_putc(&keep, '\n');
            (*failed)++;
            continue;
        }
        cJSON *res = NULL;
        char err[256];
        int r = mcp_client_call(c, "store_memory", args, timeout_ms, NULL, NULL, NULL, &res, err, sizeof err);
        cJSON_Delete(res);
        if (r) {
            log_warn("fallback import: store_memory failed: %s", err);
            buf_puts(&keep, line), buf_putc(&keep, '\n');
            (*failed)++;
            if (r < 0) break; /* the server is gone: keep the rest as it is */
        } else {
            (*imported)++;
        }
    }
    /* what the loop did not reach (after a break) stays too */
    if (save && *save) buf_puts(&keep, save), buf_putc(&keep, '\n');
    free(text);
    if (!rc) rc = keep_lines(path, &keep);
    buf_free(&keep);
    return rc;
}
