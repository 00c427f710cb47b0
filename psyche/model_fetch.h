/* model_fetch.h - HTTP(S) downloads for `psyche model pull`, over libcurl:
 * a small GET into memory (the Hugging Face API) and a resumable download
 * into a file (a model of several GB) with a progress display.
 *
 * Contract: 0 or a negative errno; err says what went wrong and what to do.
 * -ENOENT: the server answered 404 (or 410); -EACCES: 401/403; -ENOSPC: the
 * disk is full; -EPIPE: the transfer was cut (the partial file is kept, the
 * same call resumes it); -EIO: any other network or HTTP failure. */
#ifndef PSY_MODEL_FETCH_H
#define PSY_MODEL_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* GET url into *out (NUL-terminated, caller frees; at most max bytes).
 * bearer: an access token sent as "Authorization: Bearer" (NULL: none). */
int psy_fetch_text(const char *url, const char *bearer, size_t max, char **out, char *err, size_t errlen);

typedef struct psy_fetch_req {
    const char *url;
    const char *part_path; /* the file to write; what it already holds is resumed with an HTTP Range */
    int64_t expected_size; /* -1: unknown (the server's length is used) */
    bool progress_bar;     /* a redrawn bar on stderr (a terminal); else a plain line per 10% */
    const char *bearer;    /* an access token (Authorization: Bearer), or NULL */
} psy_fetch_req;

/* Downloads req->url into req->part_path, resuming what is there. On
 * success the file holds the whole body and *size its length. */
int psy_fetch_file(const psy_fetch_req *req, int64_t *size, char *err, size_t errlen);

/* n bytes for people: "812 B", "27.0 MB", "4.37 GB" (powers of 1000). */
void psy_fetch_human_size(int64_t n, char *out, size_t len);

#endif
