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
#include "utf8.h"
#include "util.h"

/* The largest fallback file read back (a larger one is left for a person). */
#define FALLBACK_MAX_BYTES (256u << 20)
/* The duplicate check searches with at most this much of the content, and
 * looks at this many hits for an identical one. */
#define DUP_QUERY_BYTES 1000
#define DUP_HITS 10


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

/* True when mnemosyne already holds a memory whose content is exactly the
 * line's: the store landed but its answer was lost (mnemosyne died or timed
 * out after committing). A failed search answers false: a duplicate is
 * better than a lost memory. */
static bool already_stored(mcp_client *c, const cJSON *line_args, int timeout_ms)
{
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(line_args, "content");
    if (!cJSON_IsString(content) || !*content->valuestring) return false;
    const char *text = content->valuestring;
    size_t len = strlen(text);
    char *query = strndup(text, utf8_truncate_bytes(text, len, DUP_QUERY_BYTES));
    cJSON *args = cJSON_CreateObject();
    cJSON *res = NULL;
    bool found = false;
    if (query && args && cJSON_AddStringToObject(args, "query", query) &&
        cJSON_AddNumberToObject(args, "n_results", DUP_HITS) && cJSON_AddStringToObject(args, "status", "all")) {
        char err[256];
        int r = mcp_client_call(c, "search_memories", args, timeout_ms, NULL, NULL, NULL, &res, err, sizeof err);
        args = NULL; /* owned by the call */
        if (r) log_warn("fallback import: the duplicate check failed (%s); storing anyway", err);
        const cJSON *hits = r ? NULL : cJSON_GetObjectItemCaseSensitive(res, "results"), *hit;
        cJSON_ArrayForEach(hit, hits)
        {
            const cJSON *hc = cJSON_GetObjectItemCaseSensitive(hit, "content");
            if (cJSON_IsString(hc) && strcmp(hc->valuestring, text) == 0) found = true;
        }
    }
    cJSON_Delete(args);
    cJSON_Delete(res);
    free(query);
    return found;
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
        if (already_stored(c, args, timeout_ms)) {
            log_info("fallback import: a memory was already stored before its answer was lost; not stored twice");
            cJSON_Delete(args);
            (*imported)++;
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
