/* context.c - the conversation within its token budget: messages, real
 * token counts, compaction, staging; the storage filter and the importance
 * heuristic.
 *
 * Owns the message list. It never talks to a child itself: counting,
 * storing and summarising come in as callbacks, so the invariants here
 * (system prompt kept, at least min_keep kept, staged before stored) are
 * tested without elpis or mnemosyne. */
#include "context.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "utf8.h"
#include "log.h"

static void msg_free(psy_msg *m)
{
    free(m->role);
    free(m->content);
    free(m->extra);
    memset(m, 0, sizeof *m);
}

char *psy_msg_render(const psy_msg *m)
{
    buf b = BUF_INIT;
    if (m->extra && *m->extra) buf_printf(&b, "%s\n\n", m->extra);
    buf_puts(&b, m->content ? m->content : "");
    if (!b.data) return strdup("");
    return buf_detach(&b);
}

static void count_msg(psy_context *c, psy_msg *m)
{
    char *text = psy_msg_render(m);
    int n = text && c->count ? c->count(c->count_ud, m->role, text) : -1;
    if (n < 0) {
        /* Counter unavailable (elpis down): a byte count is an upper bound for
         * any BPE tokenizer; recounted when elpis is back. */
        n = (int)(text ? strlen(text) : 0) + 8;
        m->estimated = true;
    } else {
        m->estimated = false;
    }
    m->tokens = n;
    free(text);
}

void psy_context_init(psy_context *c, int min_keep, psy_count_fn count, void *ud)
{
    memset(c, 0, sizeof *c);
    c->min_keep = min_keep > 0 ? min_keep : 4;
    c->count = count;
    c->count_ud = ud;
    psy_context_set_budget(c, 4096, 0.75, 0.20);
}

void psy_context_free(psy_context *c)
{
    for (size_t i = 0; i < c->n; i++) msg_free(&c->msgs[i]);
    for (size_t i = 0; i < c->n_staged; i++) msg_free(&c->staged[i]);
    free(c->msgs);
    free(c->staged);
    c->msgs = c->staged = NULL;
    c->n = c->cap = c->n_staged = c->cap_staged = 0;
    c->total_tokens = 0;
}

void psy_context_set_budget(psy_context *c, int context_length, double max_fraction, double reserve_fraction)
{
    c->context_length = context_length;
    c->max_tokens = (int)(max_fraction * context_length);
    c->reserve_tokens = (int)(reserve_fraction * context_length);
}

int psy_context_available(const psy_context *c)
{
    int a = c->max_tokens - c->reserve_tokens;
    return a > 0 ? a : 0;
}

static int grow(psy_msg **arr, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    psy_msg *p = realloc(*arr, nc * sizeof *p);
    if (!p) return -ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

static int msg_make(psy_msg *m, const char *role, const char *content, const char *extra, int flags)
{
    memset(m, 0, sizeof *m);
    m->role = strdup(role);
    m->content = strdup(content ? content : "");
    m->extra = extra && *extra ? strdup(extra) : NULL;
    m->flags = flags;
    if (!m->role || !m->content || (extra && *extra && !m->extra)) {
        msg_free(m);
        return -ENOMEM;
    }
    return 0;
}

int psy_context_set_system(psy_context *c, const char *text)
{
    psy_msg m;
    if (msg_make(&m, "system", text, NULL, 0)) return -ENOMEM;
    count_msg(c, &m);
    if (c->n > 0 && !strcmp(c->msgs[0].role, "system") && !(c->msgs[0].flags & PSY_MSG_SUMMARY)) {
        c->total_tokens -= c->msgs[0].tokens;
        msg_free(&c->msgs[0]);
        c->msgs[0] = m;
    } else {
        if (grow(&c->msgs, &c->cap, c->n + 1)) {
            msg_free(&m);
            return -ENOMEM;
        }
        memmove(c->msgs + 1, c->msgs, c->n * sizeof *c->msgs);
        c->msgs[0] = m;
        c->n++;
    }
    c->total_tokens += m.tokens;
    return 0;
}

int psy_context_add(psy_context *c, const char *role, const char *content, const char *extra, int flags)
{
    if (grow(&c->msgs, &c->cap, c->n + 1)) return -ENOMEM;
    psy_msg *m = &c->msgs[c->n];
    if (msg_make(m, role, content, extra, flags)) return -ENOMEM;
    count_msg(c, m);
    c->total_tokens += m->tokens;
    c->n++;
    c->messages_added++;
    return 0;
}

void psy_context_pop(psy_context *c)
{
    if (c->n <= 1) return;
    c->n--;
    c->total_tokens -= c->msgs[c->n].tokens;
    msg_free(&c->msgs[c->n]);
}

bool psy_context_over_budget(const psy_context *c) { return c->total_tokens > psy_context_available(c); }

void psy_context_recount(psy_context *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->msgs[i].estimated) {
            c->total_tokens -= c->msgs[i].tokens;
            count_msg(c, &c->msgs[i]);
            c->total_tokens += c->msgs[i].tokens;
        }
}

/* Index of the first message compaction may drop: after the system prompt
 * and a summary message. */
static size_t first_droppable(const psy_context *c)
{
    size_t i = 0;
    while (i < c->n && !strcmp(c->msgs[i].role, "system") && (i == 0 || (c->msgs[i].flags & PSY_MSG_SUMMARY))) i++;
    return i;
}

int psy_context_room(const psy_context *c)
{
    long fixed = 0;
    size_t from = first_droppable(c);
    for (size_t i = 0; i < from; i++) fixed += c->msgs[i].tokens;
    size_t keep = c->min_keep > 1 ? (size_t)c->min_keep - 1 : 0;
    for (size_t i = c->n; i > from && keep > 0; i--, keep--) fixed += c->msgs[i - 1].tokens;
    long room = psy_context_available(c) - fixed;
    return room > 0 ? (int)room : 0;
}

void psy_context_calibrate(psy_context *c, size_t n_rendered, long prompt_tokens)
{
    if (n_rendered != c->n || !c->n || prompt_tokens <= 0) return;
    long sum = 0;
    for (size_t i = 0; i < c->n; i++) sum += c->msgs[i].tokens;
    if (sum <= 0 || sum == prompt_tokens) return;
    double f = (double)prompt_tokens / (double)sum;
    long acc = 0;
    for (size_t i = 0; i < c->n; i++) {
        long t = lround(c->msgs[i].tokens * f);
        c->msgs[i].tokens = (int)(t < 1 ? 1 : t);
        acc += c->msgs[i].tokens;
    }
    long fix = prompt_tokens - acc; /* rounding goes to the newest message */
    psy_msg *last = &c->msgs[c->n - 1];
    if (last->tokens + fix >= 1) last->tokens += (int)fix, acc += fix;
    log_debug("token count calibrated by the generation's usage: %ld counted, %ld real", sum, prompt_tokens);
    c->total_tokens = acc;
}

/* Shortens message m in place to about target tokens: its text is cut at a
 * character boundary and a note says how much of the full text is gone. */
static void shorten_msg(psy_context *c, psy_msg *m, long target)
{
    size_t len = strlen(m->content);
    size_t body = m->body_len ? m->body_len : len; /* without an earlier note */
    size_t chars = utf8_count(m->content, body);
    if (!chars || m->tokens <= 0) return;
    /* characters per token of this very message, with a margin for the note */
    double keep_d = (double)chars * (double)target / (double)m->tokens * 0.9;
    size_t keep_chars = keep_d > 0 ? (size_t)keep_d : 0;
    if (keep_chars >= chars) keep_chars = chars > 64 ? chars - 64 : chars / 2;
    size_t keep = utf8_truncate_chars(m->content, body, keep_chars);
    size_t omitted = m->omitted_chars + (chars - keep_chars);
    buf b = BUF_INIT;
    buf_append(&b, m->content, keep);
    buf_printf(&b, "\n\n[... shortened to fit the context: %zu characters omitted]", omitted);
    if (!b.data) return;
    free(m->content);
    m->content = buf_detach(&b);
    m->body_len = keep;
    m->omitted_chars = omitted;
    c->total_tokens -= m->tokens;
    count_msg(c, m);
    c->total_tokens += m->tokens;
}

/* When nothing more may be dropped: the largest tool results give way until
 * the total is within limit tokens. */
static void shorten_tool_results(psy_context *c, long limit)
{
    for (int round = 0; round < 8 && c->total_tokens > limit; round++) {
        psy_msg *best = NULL;
        for (size_t i = first_droppable(c); i < c->n; i++)
            if ((c->msgs[i].flags & PSY_MSG_TOOL_RESULT) && (!best || c->msgs[i].tokens > best->tokens))
                best = &c->msgs[i];
        if (!best || best->tokens <= 64) return;
        long excess = c->total_tokens - limit;
        long target = best->tokens - excess - 16;
        if (target < 48) target = 48;
        int before = best->tokens;
        shorten_msg(c, best, target);
        if (best->tokens >= before) return; /* no progress (the counter is odd): stop */
        c->shortened++;
        log_info("compaction: a tool result shortened in place (%d -> %d tokens), %ld of %ld used", before,
                 best->tokens, c->total_tokens, limit);
    }
}

static int stage(psy_context *c, psy_msg *m)
{
    if (grow(&c->staged, &c->cap_staged, c->n_staged + 1)) {
        log_error("out of memory staging a dropped message; it is lost");
        msg_free(m);
        return -ENOMEM;
    }
    c->staged[c->n_staged++] = *m; /* ownership moves */
    memset(m, 0, sizeof *m);
    return 0;
}

int psy_context_flush_staged(psy_context *c, psy_flush_fn flush, void *ud)
{
    if (!c->n_staged) return 0;
    int rc = flush ? flush(ud, c->staged, c->n_staged) : -ENOSYS;
    if (rc) return rc; /* kept for the next try */
    for (size_t i = 0; i < c->n_staged; i++) msg_free(&c->staged[i]);
    c->n_staged = 0;
    return 0;
}

int psy_context_compact(psy_context *c, psy_flush_fn flush, psy_summarize_fn summarize, void *ud)
{
    if (!psy_context_over_budget(c)) return 0;
    c->compactions++;
    psy_context_flush_staged(c, flush, ud); /* what the previous compaction dropped */

    size_t from = first_droppable(c);
    size_t keep_from = from; /* messages [from, keep_from) are dropped */
    long total = c->total_tokens;
    size_t avail = (size_t)psy_context_available(c);
    while (total > (long)avail && c->n - keep_from > (size_t)c->min_keep) {
        total -= c->msgs[keep_from].tokens;
        keep_from++;
    }
    size_t ndrop = keep_from - from;
    if (!ndrop) {
        shorten_tool_results(c, psy_context_available(c));
        return 0;
    }

    char *summary = NULL;
    if (summarize) {
        /* the old summary (if any) goes in first, so nothing is forgotten */
        size_t s0 = from > 1 ? 1 : from;
        summary = summarize(ud, c->msgs + s0, keep_from - s0);
    }
    for (size_t i = from; i < keep_from; i++) {
        c->total_tokens -= c->msgs[i].tokens;
        if (!strcmp(c->msgs[i].role, "system")) msg_free(&c->msgs[i]);
        else stage(c, &c->msgs[i]);
    }
    memmove(c->msgs + from, c->msgs + keep_from, (c->n - keep_from) * sizeof *c->msgs);
    c->n -= ndrop;
    if (summary) {
        psy_msg m;
        buf b = BUF_INIT;
        buf_printf(&b, "[Previous conversation summary]\n%s", summary);
        free(summary);
        if (b.data && msg_make(&m, "system", b.data, NULL, PSY_MSG_SUMMARY) == 0) {
            count_msg(c, &m);
            if (from > 1) { /* replace the old summary */
                c->total_tokens -= c->msgs[1].tokens;
                msg_free(&c->msgs[1]);
                c->msgs[1] = m;
            } else if (grow(&c->msgs, &c->cap, c->n + 1) == 0) {
                memmove(c->msgs + 2, c->msgs + 1, (c->n - 1) * sizeof *c->msgs);
                c->msgs[1] = m;
                c->n++;
            } else {
                msg_free(&m);
                m.tokens = 0;
            }
            c->total_tokens += m.tokens;
        }
        buf_free(&b);
        /* a long summary may push us over again: slide, never dropping it or the prompt */
        size_t f2 = first_droppable(c);
        while (psy_context_over_budget(c) && c->n - f2 > (size_t)c->min_keep) {
            c->total_tokens -= c->msgs[f2].tokens;
            stage(c, &c->msgs[f2]);
            memmove(c->msgs + f2, c->msgs + f2 + 1, (c->n - f2 - 1) * sizeof *c->msgs);
            c->n--;
            ndrop++;
        }
    }
    shorten_tool_results(c, psy_context_available(c));
    log_info("compaction: dropped %zu messages, %ld tokens left of %d available, %zu staged", ndrop, c->total_tokens,
             psy_context_available(c), c->n_staged);
    return (int)ndrop;
}

/* Removes message i (staged, or freed when it is a system message). */
static void drop_at(psy_context *c, size_t i)
{
    c->total_tokens -= c->msgs[i].tokens;
    if (!strcmp(c->msgs[i].role, "system")) msg_free(&c->msgs[i]);
    else stage(c, &c->msgs[i]);
    memmove(c->msgs + i, c->msgs + i + 1, (c->n - i - 1) * sizeof *c->msgs);
    c->n--;
}

/* The newest message without its volatile note (memories, mood). */
static bool drop_extra(psy_context *c, psy_msg *m)
{
    if (!m->extra) return false;
    free(m->extra);
    m->extra = NULL;
    c->total_tokens -= m->tokens;
    count_msg(c, m);
    c->total_tokens += m->tokens;
    return true;
}

int psy_context_fit(psy_context *c, int answer_tokens, psy_fit_report *rep)
{
    memset(rep, 0, sizeof *rep);
    long limit = (long)c->context_length - answer_tokens - PSY_FIT_SLACK_TOKENS;
    if (c->total_tokens <= limit) return 0;
    /* 1. the oldest messages, below min_keep if need be; the newest stays */
    size_t from = first_droppable(c);
    while (c->total_tokens > limit && c->n - from > 1) drop_at(c, from), rep->dropped++;
    /* 2. an earlier summary */
    if (c->total_tokens > limit && from > 1 && c->n > 2) drop_at(c, 1), rep->dropped++;
    /* 3. tool results, largest first */
    long shortened = c->shortened;
    shorten_tool_results(c, limit);
    rep->shortened_results = (int)(c->shortened - shortened);
    if (c->n < 2 || c->total_tokens <= limit) goto done;
    /* 4. the newest message's note, then the message itself, with a note saying so */
    psy_msg *last = &c->msgs[c->n - 1];
    rep->extra_dropped = c->total_tokens > limit && drop_extra(c, last);
    for (int round = 0; round < 3 && c->total_tokens > limit && last->tokens > PSY_FIT_MIN_TOKENS; round++) {
        long target = last->tokens - (c->total_tokens - limit) - PSY_FIT_SLACK_TOKENS;
        shorten_msg(c, last, target < PSY_FIT_MIN_TOKENS ? PSY_FIT_MIN_TOKENS : target);
        rep->chars_cut = last->omitted_chars;
    }
done:
    if (rep->dropped || rep->shortened_results || rep->chars_cut)
        log_info("fit: %d messages dropped, %d tool results and %zu characters of the newest message cut; %ld of "
                 "%ld tokens used",
                 rep->dropped, rep->shortened_results, rep->chars_cut, c->total_tokens, limit);
    return c->total_tokens > limit ? -E2BIG : 0;
}

void psy_context_clear(psy_context *c)
{
    size_t from = 1;
    for (size_t i = from; i < c->n; i++) {
        c->total_tokens -= c->msgs[i].tokens;
        if (!strcmp(c->msgs[i].role, "system")) msg_free(&c->msgs[i]);
        else stage(c, &c->msgs[i]);
    }
    if (c->n > 1) c->n = 1;
}

cJSON *psy_context_render(const psy_context *c)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < c->n; i++) {
        cJSON *m = cJSON_CreateObject();
        char *text = psy_msg_render(&c->msgs[i]);
        cJSON_AddStringToObject(m, "role", c->msgs[i].role);
        cJSON_AddStringToObject(m, "content", text ? text : "");
        free(text);
        cJSON_AddItemToArray(arr, m);
    }
    return arr;
}

/* ------------------------------------------------------- storage filter */

static char *lower_dup(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 3);
    if (!d) return NULL;
    d[0] = ' ';
    for (size_t i = 0; i < n; i++) d[i + 1] = (char)tolower((unsigned char)s[i]);
    d[n + 1] = ' ';
    d[n + 2] = 0;
    return d;
}

static bool has_any(const char *hay, const char *const *needles)
{
    for (size_t i = 0; needles[i]; i++)
        if (strstr(hay, needles[i])) return true;
    return false;
}

static const char *const low_value[] = {"hello", "hi ", "hey ", "thanks", "thank you", "okay", "ok ",     "sure",
                                        "yes",   "no ", "yeah", "please", "sorry",     "bye",  "goodbye", NULL};
static const char *const high_value[] = {
    " means ",    " is defined as ", " refers to ", " because ",   " therefore ",   " thus ",  " prefer ",
    " like ",     " enjoy ",         " love ",      " hate ",      " always ",      " never ", " usually ",
    " remember ", " forgot ",        " learned ",   " important ", " significant ", " key ",   NULL};
static const char *const question_words[] = {"who",   "what",   "where", "when", "why", "how", "can", "could",
                                             "would", "should", "do",    "does", "did", "is",  "are", "was",
                                             "were",  "will",   "have",  "has",  "had", NULL};
static const char *const openers[] = {"I ",      "My ",     "I'm ",  "I've ",  "I'll ", "You ",   "Your ",
                                      "You're ", "You've ", "The ",  "This ",  "That ", "These ", "Those ",
                                      "We ",     "Our ",    "They ", "Their ", NULL};

static bool has_question_word(const char *lower)
{
    const char *p = lower;
    while (*p) {
        while (*p && !isalnum((unsigned char)*p)) p++;
        const char *w = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        char word[32];
        size_t k = 0;
        for (const char *q = w; q < p && k < sizeof word - 1; q++)
            if (isalnum((unsigned char)*q)) word[k++] = *q;
        word[k] = 0;
        for (size_t i = 0; k && question_words[i]; i++)
            if (!strcmp(word, question_words[i])) return true;
    }
    return false;
}

bool psy_should_store(const char *role, const char *text, const char **type)
{
    *type = "episodic";
    if (!text || !role || !strcmp(role, "system")) return false;
    while (isspace((unsigned char)*text)) text++;
    size_t len = strlen(text);
    while (len && isspace((unsigned char)text[len - 1])) len--;
    if (len < 50) return false;
    char *t = strndup(text, len);
    char *lower = t ? lower_dup(t) : NULL;
    if (!lower) {
        free(t);
        return false;
    }
    bool store = true;
    bool high = has_any(lower, high_value);
    if (len < 100 && has_any(lower, low_value) && !high) store = false;
    else if (high) *type = "semantic";
    else if (!strcmp(role, "user")) {
        if (len < 200 && strchr(t, '?') && has_question_word(lower)) store = false;
    } else if (!strcmp(role, "assistant")) {
        bool opener = false;
        for (size_t i = 0; openers[i] && !opener; i++)
            if (strstr(t, openers[i])) opener = true;
        if (opener || len >= 200) *type = "semantic";
    }
    free(lower);
    free(t);
    return store;
}

/* --------------------------------------------------------- importance */

static int count_sub(const char *s, const char *sub)
{
    int n = 0;
    size_t k = strlen(sub);
    for (const char *p = s; (p = strstr(p, sub)); p += k) n++;
    return n;
}

double psy_importance(const char *user_text, const char *answer, int tools_used, const char *tool_results,
                      double valence, double arousal, char *breakdown, size_t breakdown_len)
{
    static const char *const explicit_words[] = {"remember",      "important",   "note that", "don't forget",
                                                 "keep in mind",  "make a note", "save this", "store this",
                                                 "do not forget", NULL};
    static const char *const error_words[] = {"error", "failed", "exception", "traceback", NULL};
    size_t alen = answer ? strlen(answer) : 0;
    double length = alen > 1000 ? 0.35 : alen > 500 ? 0.25 : alen > 200 ? 0.15 : 0;
    int fences = answer ? count_sub(answer, "```") : 0;
    double code = fences >= 4 ? 0.35 : fences >= 2 ? 0.25 : 0;
    double tools = tools_used >= 3 ? 0.30 : tools_used >= 1 ? 0.20 : 0;
    double errors = 0, expl = 0;
    if (tool_results && *tool_results) {
        char *l = lower_dup(tool_results);
        if (l && has_any(l, error_words)) errors = 0.20;
        free(l);
    }
    if (user_text && *user_text) {
        char *l = lower_dup(user_text);
        if (l && has_any(l, explicit_words)) expl = 0.40;
        free(l);
    }
    double m = fmax(fabs(valence), fabs(arousal));
    double emo = m > 0.7 ? 0.25 : m > 0.5 ? 0.15 : 0;
    double total = fmin(1.0, length + code + tools + errors + expl + emo);
    if (breakdown && breakdown_len)
        snprintf(breakdown, breakdown_len,
                 "total=%.2f (length=%.2f, code=%.2f, tools=%.2f, errors=%.2f, explicit=%.2f, emotion=%.2f)", total,
                 length, code, tools, errors, expl, emo);
    return total;
}

cJSON *psy_consolidate_args(double importance_threshold, double similarity_threshold)
{
    cJSON *args = cJSON_CreateObject();
    if (!cJSON_AddNumberToObject(args, "importance_threshold", importance_threshold) ||
        !cJSON_AddNumberToObject(args, "similarity_threshold", similarity_threshold)) {
        cJSON_Delete(args);
        return NULL;
    }
    return args;
}

static int num_or_zero(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : 0;
}

void psy_consolidate_describe(const cJSON *res, char *out, size_t n)
{
    snprintf(out, n, "%d clusters, %d promoted to long-term, %d archived", num_or_zero(res, "clusters_formed"),
             num_or_zero(res, "memories_promoted"), num_or_zero(res, "memories_archived"));
}
