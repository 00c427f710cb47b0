/* model_fetch.c - the libcurl side of `psyche model pull`: one easy handle
 * per request, redirects followed (Hugging Face resolves to a CDN), no
 * transfer left running when a call returns. A download appends to its
 * partial file, asking the server for the rest with a Range header; when the
 * server cannot resume (200 instead of 206: libcurl refuses it) the file is
 * started again. Owns only
 * the handle and file of the call in progress. */
#include "model_fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"

#define USER_AGENT "psyche-model-pull/0.1"

void psy_fetch_human_size(int64_t n, char *out, size_t len)
{
    if (n < 1000) snprintf(out, len, "%lld B", (long long)n);
    else if (n < 1000LL * 1000) snprintf(out, len, "%.1f kB", n / 1e3);
    else if (n < 1000LL * 1000 * 1000) snprintf(out, len, "%.1f MB", n / 1e6);
    else snprintf(out, len, "%.2f GB", n / 1e9);
}

/* A handle with what every request wants: redirects, a user agent, errors
 * for HTTP >= 400, and a stall limit instead of a total timeout (a model
 * takes as long as it takes, but a dead connection must not hang). With a
 * bearer token, an Authorization header in *hdrs (the caller frees it with
 * curl_slist_free_all after the transfer; libcurl does not send it on to
 * another host when it follows a redirect). */
static CURL *new_handle(const char *url, const char *bearer, struct curl_slist **hdrs, char *cerr)
{
    *hdrs = NULL;
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    if (bearer && *bearer) {
        buf h = BUF_INIT;
        buf_printf(&h, "Authorization: Bearer %s", bearer);
        *hdrs = curl_slist_append(NULL, buf_str(&h));
        buf_free(&h);
        if (!*hdrs) {
            curl_easy_cleanup(c);
            return NULL;
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    cerr[0] = '\0';
    return c;
}

/* The message and errno for a failed transfer that is not the file's
 * fault. */
static int transfer_error(CURL *c, CURLcode res, const char *url, const char *cerr, char *err, size_t errlen)
{
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    const char *why = *cerr ? cerr : curl_easy_strerror(res);
    if (res == CURLE_HTTP_RETURNED_ERROR && (code == 404 || code == 410)) {
        snprintf(err, errlen,
                 "not found (HTTP %ld): %s; check the address (for --hf: the user, repository "
                 "and quantisation)",
                 code, url);
        return -ENOENT;
    }
    if (res == CURLE_HTTP_RETURNED_ERROR && (code == 401 || code == 403)) {
        snprintf(err, errlen,
                 "access refused (HTTP %ld): %s; the model may be gated: accept its licence on "
                 "its page, then set HF_TOKEN to an access token of yours (--hf), or pick another repository",
                 code, url);
        return -EACCES;
    }
    if (res == CURLE_HTTP_RETURNED_ERROR) {
        snprintf(err, errlen, "the server answered HTTP %ld for %s; try again later", code, url);
        return -EIO;
    }
    snprintf(err, errlen, "cannot download %s: %s; check the address and the network, then try again", url, why);
    return -EIO;
}

/* ------------------------------------------------------------- to memory */

typedef struct mem_sink {
    buf b;
    size_t max;
} mem_sink;

static size_t mem_write(char *p, size_t size, size_t n, void *ud)
{
    mem_sink *m = ud;
    size_t len = size * n;
    if (m->b.len + len > m->max || buf_append(&m->b, p, len)) return 0;
    return len;
}

int psy_fetch_text(const char *url, const char *bearer, size_t max, char **out, char *err, size_t errlen)
{
    char cerr[CURL_ERROR_SIZE];
    struct curl_slist *hdrs;
    CURL *c = new_handle(url, bearer, &hdrs, cerr);
    if (!c) {
        snprintf(err, errlen, "cannot start libcurl (out of memory?)");
        return -ENOMEM;
    }
    mem_sink m = {BUF_INIT, max};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mem_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &m);
    CURLcode res = curl_easy_perform(c);
    int rc = 0;
    if (res == CURLE_WRITE_ERROR) {
        snprintf(err, errlen, "the answer from %s is larger than %zu bytes; is it the right address?", url, max);
        rc = -EFBIG;
    } else if (res != CURLE_OK) {
        rc = transfer_error(c, res, url, cerr, err, errlen);
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    if (!rc && buf_putc(&m.b, '\0')) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    if (!rc) {
        m.b.len--; /* the NUL is not content */
        *out = buf_detach(&m.b);
    }
    buf_free(&m.b);
    return rc;
}

/* ------------------------------------------------------------- to a file */

typedef struct file_sink {
    CURL *c;
    FILE *f;
    const char *path;
    int64_t have;    /* bytes in the file before this transfer (after a restart: 0) */
    int64_t written; /* bytes written by this transfer */
    int werr;        /* errno of a failed write */
    bool bar;
    int64_t shown_ms; /* when the bar was last drawn */
    int shown_tenth;  /* plain lines: the last tenth reported */
    int64_t t0_ms;
    int64_t start; /* bytes in the file when the transfer began (for the rate) */
} file_sink;

static size_t file_write(char *p, size_t size, size_t n, void *ud)
{
    file_sink *s = ud;
    size_t len = size * n;
    if (fwrite(p, 1, len, s->f) != len) {
        s->werr = errno ? errno : EIO;
        return 0;
    }
    s->written += (int64_t)len;
    return len;
}

/* The progress display: a bar redrawn at most 5 times a second on a
 * terminal (and once more at the end: force), otherwise one line per tenth
 * (logs and pipes stay short). now and total count the whole file; total 0
 * is unknown. */
static void show_progress(file_sink *s, int64_t now, int64_t total, bool force)
{
    int64_t t = now_mono_ms();
    char a[32], b[32];
    psy_fetch_human_size(now, a, sizeof a);
    psy_fetch_human_size(total, b, sizeof b);
    if (s->bar) {
        if (!force && (now == 0 || t - s->shown_ms < 200)) return;
        s->shown_ms = t;
        double rate = t > s->t0_ms ? (double)(now - s->start) * 1000.0 / (double)(t - s->t0_ms) : 0;
        char r[32], bar[31];
        psy_fetch_human_size((int64_t)rate, r, sizeof r);
        int fill = total ? (int)(30 * now / total) : 0;
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '-';
        bar[30] = '\0';
        if (total) fprintf(stderr, "\r[%s] %3d%% %s / %s  %s/s   ", bar, (int)(100 * now / total), a, b, r);
        else fprintf(stderr, "\r%s  %s/s   ", a, r);
    } else if (total && (int)(10 * now / total) > s->shown_tenth) {
        s->shown_tenth = (int)(10 * now / total);
        fprintf(stderr, "psyche: %d%% (%s of %s)\n", 10 * s->shown_tenth, a, b);
    }
}

static int file_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    file_sink *s = ud;
    (void)ultotal, (void)ulnow;
    show_progress(s, s->have + dlnow, dltotal > 0 ? s->have + dltotal : 0, false);
    return 0;
}

/* Opens the partial file for appending; *have is what it holds. A file
 * longer than the expected size is started again. */
static int open_part(const psy_fetch_req *req, FILE **f, int64_t *have, char *err, size_t errlen)
{
    *f = fopen(req->part_path, "ab");
    if (!*f || fseeko(*f, 0, SEEK_END)) {
        int e = errno;
        if (*f) (void)fclose(*f); /* nothing written yet */
        snprintf(err, errlen, "cannot write %s: %s", req->part_path, strerror(e));
        return -e;
    }
    *have = ftello(*f);
    if (req->expected_size >= 0 && *have > req->expected_size) {
        if (ftruncate(fileno(*f), 0) == 0) *have = 0;
    }
    return 0;
}

/* What a finished transfer means: 0, or the errno and message. */
static int file_result(file_sink *s, CURLcode res, const psy_fetch_req *req, const char *cerr, char *err, size_t errlen)
{
    long code = 0;
    curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &code);
    char a[32];
    psy_fetch_human_size(s->have + s->written, a, sizeof a);
    if (res == CURLE_OK) return 0;
    if (res == CURLE_HTTP_RETURNED_ERROR && code == 416 && s->have > 0) return 0; /* nothing left to send */
    if (res == CURLE_WRITE_ERROR && s->werr == ENOSPC) {
        snprintf(err, errlen,
                 "the disk is full: %s stopped at %s; free some space and run the same command "
                 "again (the download resumes)",
                 req->part_path, a);
        return -ENOSPC;
    }
    if (res == CURLE_WRITE_ERROR && s->werr) {
        snprintf(err, errlen, "cannot write %s: %s", req->part_path, strerror(s->werr));
        return -s->werr;
    }
    if (res == CURLE_PARTIAL_FILE || res == CURLE_RECV_ERROR || res == CURLE_OPERATION_TIMEDOUT ||
        res == CURLE_GOT_NOTHING || res == CURLE_SEND_ERROR) {
        snprintf(err, errlen, "the download was cut at %s (%s); run the same command again to resume it", a,
                 *cerr ? cerr : curl_easy_strerror(res));
        return -EPIPE;
    }
    return transfer_error(s->c, res, req->url, cerr, err, errlen);
}

/* One transfer into s->f from s->have on (a Range when not 0). */
static CURLcode transfer(file_sink *s, const psy_fetch_req *req)
{
    curl_easy_setopt(s->c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)s->have);
    if (s->have > 0) fprintf(stderr, "psyche: resuming at byte %lld\n", (long long)s->have);
    curl_easy_setopt(s->c, CURLOPT_WRITEFUNCTION, file_write);
    curl_easy_setopt(s->c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(s->c, CURLOPT_XFERINFOFUNCTION, file_progress);
    curl_easy_setopt(s->c, CURLOPT_XFERINFODATA, s);
    s->start = s->have;
    s->t0_ms = now_mono_ms();
    return curl_easy_perform(s->c);
}

int psy_fetch_file(const psy_fetch_req *req, int64_t *size, char *err, size_t errlen)
{
    file_sink s = {.path = req->part_path, .bar = req->progress_bar};
    int rc = open_part(req, &s.f, &s.have, err, errlen);
    if (rc) return rc;
    if (req->expected_size >= 0 && s.have == req->expected_size) { /* already complete */
        (void)fclose(s.f);                                         /* nothing written */
        *size = s.have;
        return 0;
    }
    char cerr[CURL_ERROR_SIZE];
    struct curl_slist *hdrs;
    if (!(s.c = new_handle(req->url, req->bearer, &hdrs, cerr))) {
        (void)fclose(s.f); /* nothing written */
        snprintf(err, errlen, "cannot start libcurl (out of memory?)");
        return -ENOMEM;
    }
    CURLcode res = transfer(&s, req);
    if (res == CURLE_RANGE_ERROR && s.have > 0 && s.written == 0) { /* the server cannot resume */
        fprintf(stderr, "psyche: the server cannot resume a download; starting again\n");
        if (ftruncate(fileno(s.f), 0) == 0) {
            s.have = 0;
            res = transfer(&s, req);
        }
    }
    rc = file_result(&s, res, req, cerr, err, errlen);
    if (s.bar && !rc) show_progress(&s, s.have + s.written, s.have + s.written, true);
    if (s.bar) fputc('\n', stderr);
    curl_easy_cleanup(s.c);
    curl_slist_free_all(hdrs);
    /* What was written stays for a resume, so it must really be on disk. */
    if ((fflush(s.f) || fsync(fileno(s.f))) && !rc) {
        rc = -errno;
        snprintf(err, errlen, "cannot write %s: %s%s", req->part_path, strerror(errno),
                 errno == ENOSPC ? "; free some space and run the same command again" : "");
    }
    (void)fclose(s.f);                                         /* flushed and synced above: nothing left to lose */
    if (rc && s.have + s.written == 0) unlink(req->part_path); /* nothing to resume: no empty file left */
    if (!rc) *size = s.have + s.written;
    return rc;
}
