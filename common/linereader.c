/* linereader.c - bounded line splitting; see linereader.h. */
#include "linereader.h"

#include <string.h>

void lr_init(line_reader *lr, size_t max)
{
    buf_init(&lr->pending);
    lr->max = max;
    lr->skipping = false;
    lr->skipped = 0;
}

void lr_free(line_reader *lr) { buf_free(&lr->pending); }

static void deliver(line_reader *lr, lr_line_fn on_line, void *ud)
{
    size_t len = lr->pending.len;
    char *line = lr->pending.data ? lr->pending.data : (char *)"";
    if (len && line[len - 1] == '\r') line[--len] = '\0';
    on_line(ud, line, len);
    buf_reset(&lr->pending);
}

int lr_feed(line_reader *lr, const char *data, size_t n, lr_line_fn on_line, lr_oversize_fn on_oversize, void *ud)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t chunk = nl ? (size_t)(nl - data) : n;
        if (lr->skipping) {
            lr->skipped += chunk;
        } else if (lr->pending.len + chunk > lr->max) {
            lr->skipping = true;
            lr->skipped = lr->pending.len + chunk;
            buf_free(&lr->pending); /* give the memory back now */
        } else if (chunk) {
            if (buf_append(&lr->pending, data, chunk)) return -12; /* -ENOMEM */
        }
        if (!nl) break;
        if (lr->skipping) {
            if (on_oversize) on_oversize(ud, lr->skipped);
            lr->skipping = false;
            lr->skipped = 0;
        } else {
            deliver(lr, on_line, ud);
        }
        data += chunk + 1;
        n -= chunk + 1;
    }
    return 0;
}

void lr_finish(line_reader *lr, lr_line_fn on_line, lr_oversize_fn on_oversize, void *ud)
{
    if (lr->skipping) {
        if (on_oversize) on_oversize(ud, lr->skipped);
    } else if (lr->pending.len) {
        deliver(lr, on_line, ud);
    }
    lr->skipping = false;
    lr->skipped = 0;
    buf_reset(&lr->pending);
}
