/* linereader.h - splits a byte stream into '\n'-terminated lines with a size cap.
 *
 * The one way we read lines from a pipe. A line longer than max is not
 * buffered: its bytes are skipped up to the next '\n' and on_oversize reports
 * its size, so one hostile message costs no memory and the stream stays in
 * sync. A trailing '\r' is stripped. */
#ifndef PSY_LINEREADER_H
#define PSY_LINEREADER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

typedef struct line_reader {
    buf pending;    /* bytes of an incomplete line */
    size_t max;     /* longest line accepted, in bytes (without '\n') */
    bool skipping;  /* inside an oversized line */
    size_t skipped; /* bytes skipped of it so far */
} line_reader;

/* on_line gets a NUL-terminated line it may modify but not keep. */
typedef void (*lr_line_fn)(void *ud, char *line, size_t len);
typedef void (*lr_oversize_fn)(void *ud, size_t len);

void lr_init(line_reader *lr, size_t max);
void lr_free(line_reader *lr);
/* Returns 0 or -ENOMEM. */
int lr_feed(line_reader *lr, const char *data, size_t n, lr_line_fn on_line, lr_oversize_fn on_oversize, void *ud);
/* At EOF: an unterminated last line is delivered as a line (if within max). */
void lr_finish(line_reader *lr, lr_line_fn on_line, lr_oversize_fn on_oversize, void *ud);

#endif
