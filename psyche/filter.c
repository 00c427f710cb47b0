/* filter.c - the stream filter (see filter.h). Pure text handling. */
#include "filter.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const open_tags[] = {"<reasoning>", "<thinking>"};
static const char *const close_tags[] = {"</reasoning>", "</thinking>"};
#define N_TAGS (sizeof open_tags / sizeof open_tags[0])

void psy_filter_init(psy_stream_filter *f) { memset(f, 0, sizeof *f); }

/* 1: raw at p starts with word (case-insensitive); 0: it does not;
 * -1: cannot tell yet (raw ends inside a prefix of word). */
static int starts(const char *p, size_t avail, const char *word)
{
    size_t n = strlen(word);
    size_t k = avail < n ? avail : n;
    if (strncasecmp(p, word, k)) return 0;
    return avail >= n ? 1 : -1;
}

/* Inside a reasoning block: looks for either closing tag (mixing is
 * allowed). Returns false when the caller must wait for more text. */
static bool feed_reasoning(psy_stream_filter *f, const char *raw, size_t len, bool final, buf *rsn)
{
    const char *p = raw + f->pos;
    const char *best = NULL;
    size_t blen = 0;
    for (size_t i = 0; i < N_TAGS; i++) {
        const char *q = strcasestr(p, close_tags[i]);
        if (q && q + strlen(close_tags[i]) <= raw + len && (!best || q < best)) best = q, blen = strlen(close_tags[i]);
    }
    if (!best) {
        if (final) {
            buf_append(rsn, raw + f->mark, len - f->mark);
            buf_puts(rsn, "\n\n");
            f->pos = len;
        }
        return false;
    }
    buf_append(rsn, raw + f->mark, (size_t)(best - (raw + f->mark)));
    buf_puts(rsn, "\n\n");
    f->pos = (size_t)(best - raw) + blen;
    f->state = PSY_FILTER_TEXT;
    return true;
}

/* At a '<' in text: an opening tag starts reasoning, anything else is shown.
 * Returns false when the caller must wait for more text. */
static bool feed_angle(psy_stream_filter *f, const char *p, size_t avail, bool final, buf *vis)
{
    bool wait = false;
    for (size_t i = 0; i < N_TAGS; i++) {
        int s = starts(p, avail, open_tags[i]);
        if (s == 1) {
            f->state = PSY_FILTER_REASONING;
            f->pos += strlen(open_tags[i]);
            f->mark = f->pos;
            return true;
        }
        if (s == -1) wait = true;
    }
    if (wait && !final) return false;
    buf_putc(vis, '<');
    f->pos++;
    return true;
}

/* At a '`' in text: a tool_call fence hides the rest; other fences are
 * shown. Returns false when the caller must wait for more text. */
static bool feed_tick(psy_stream_filter *f, const char *p, size_t avail, bool final, buf *vis)
{
    int s = starts(p, avail, "```tool_call");
    if (s == 1) {
        f->state = PSY_FILTER_TOOL_CALL;
        return true;
    }
    if (s == -1 && !final) return false;
    size_t ticks = 0;
    while (ticks < avail && p[ticks] == '`') ticks++;
    if (ticks == avail && !final) return false; /* more backticks may follow */
    buf_append(vis, p, ticks);
    f->pos += ticks;
    return true;
}

void psy_filter_feed(psy_stream_filter *f, const char *raw, size_t len, bool final, buf *vis, buf *rsn)
{
    while (f->pos < len) {
        const char *p = raw + f->pos;
        size_t avail = len - f->pos;
        if (f->state == PSY_FILTER_TOOL_CALL) {
            f->pos = len; /* nothing after a tool call is shown */
            break;
        }
        if (f->state == PSY_FILTER_REASONING) {
            if (!feed_reasoning(f, raw, len, final, rsn)) break;
            continue;
        }
        size_t run = strcspn(p, "<`"); /* text up to the next '<' or '`' */
        if (run > avail) run = avail;
        if (run) {
            buf_append(vis, p, run);
            f->pos += run;
            continue;
        }
        bool more = *p == '<' ? feed_angle(f, p, avail, final, vis) : feed_tick(f, p, avail, final, vis);
        if (!more) break;
    }
}

char *psy_filter_visible(const char *text)
{
    psy_stream_filter f;
    psy_filter_init(&f);
    buf vis = BUF_INIT, rsn = BUF_INIT;
    psy_filter_feed(&f, text, strlen(text), true, &vis, &rsn);
    buf_free(&rsn);
    const char *s = buf_str(&vis);
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    char *r = strndup(s, n);
    buf_free(&vis);
    return r;
}
