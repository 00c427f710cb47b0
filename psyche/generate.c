/* generate.c - one generation on elpis with streaming and the tool-call stop
 * (see generate.h). */
#include "generate.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "filter.h"
#include "log.h"
#include "toolcall.h"
#include "utf8.h"
#include "util.h"

psy_gen_params psy_gen_default_params(const psy_settings *cfg)
{
    return (psy_gen_params){.max_tokens = cfg->max_tokens,
                            .temperature = PSY_GEN_TEMPERATURE_EMOTION,
                            .timeout_s = cfg->generation_timeout_s};
}

typedef struct gen_state {
    psy_links *l;
    buf raw;
    psy_stream_filter f;
    bool stream;
    bool modulated; /* the temperature was left to the emotion */
    bool fence_stop;
    size_t fence_end;
} gen_state;

static void emit_filtered(gen_state *g, const char *text, size_t len, bool final)
{
    buf vis = BUF_INIT, rsn = BUF_INIT;
    psy_filter_feed(&g->f, text, len, final, &vis, &rsn);
    if (rsn.len) {
        while (rsn.len && isspace((unsigned char)rsn.data[rsn.len - 1])) rsn.data[--rsn.len] = 0;
        if (rsn.len) psy_emit(g->l->bus, PSY_EV_REASONING, rsn.data, NULL);
    }
    if (vis.len) psy_emit(g->l->bus, PSY_EV_TOKEN, vis.data, NULL);
    buf_free(&vis);
    buf_free(&rsn);
}

static void on_progress(void *ud, double progress, const char *message)
{
    gen_state *g = ud;
    (void)progress;
    if (!message || !*message || g->fence_stop) return;
    buf_puts(&g->raw, message);
    size_t end;
    if (psy_toolcall_stream_done(g->raw.data, g->raw.len, &end)) {
        /* the model should stop here; make sure it does */
        g->fence_stop = true;
        g->fence_end = end;
        psy_activity_stop_call(g->l->bus);
    }
    /* hold back an incomplete UTF-8 sequence: deltas may split characters */
    size_t ok = utf8_complete_prefix(g->raw.data, g->fence_stop ? g->fence_end : g->raw.len);
    if (g->stream) emit_filtered(g, g->raw.data, ok, false);
}

static long usage_num(const cJSON *u, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(u, key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

/* A finished generation: its content, emotion and usage. */
static const char *take_result(gen_state *g, const cJSON *res, size_t *flen, psy_gen_usage *usage)
{
    const cJSON *mp = cJSON_GetObjectItemCaseSensitive(res, "modulated_params");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(mp, "temperature");
    const cJSON *mtp = cJSON_GetObjectItemCaseSensitive(mp, "top_p");
    if (g->modulated && cJSON_IsNumber(mt) && cJSON_IsNumber(mtp)) {
        g->l->modulated = true;
        g->l->modulated_temperature = mt->valuedouble;
        g->l->modulated_top_p = mtp->valuedouble;
    }
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(res, "content");
    const char *final = cJSON_IsString(c) ? c->valuestring : "";
    *flen = strlen(final);
    psy_note_emotion(g->l, cJSON_GetObjectItemCaseSensitive(res, "emotional_state"));
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(res, "usage");
    usage->prompt_tokens = usage_num(u, "prompt_tokens");
    usage->completion_tokens = usage_num(u, "completion_tokens");
    if (usage->prompt_tokens >= 0)
        log_debug("generation: %ld prompt tokens (%ld cached)", usage->prompt_tokens,
                  usage_num(u, "cached_tokens") < 0 ? 0 : usage_num(u, "cached_tokens"));
    return final;
}

/* Cuts the last message's content to about keep_ratio of its characters, with a note. */
static void cut_last(cJSON *messages, double keep_ratio)
{
    cJSON *last = cJSON_GetArrayItem(messages, cJSON_GetArraySize(messages) - 1);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(last, "content");
    if (!cJSON_IsString(c)) return;
    size_t len = strlen(c->valuestring), chars = utf8_count(c->valuestring, len);
    size_t keep_chars = (size_t)((double)chars * (keep_ratio > 0 ? keep_ratio : 0));
    size_t keep = utf8_truncate_chars(c->valuestring, len, keep_chars);
    buf b = BUF_INIT;
    buf_append(&b, c->valuestring, keep);
    buf_printf(&b, "\n\n[... shortened to fit the context: %zu characters omitted]", chars - keep_chars);
    cJSON_ReplaceItemInObjectCaseSensitive(last, "content", cJSON_CreateString(buf_str(&b)));
    buf_free(&b);
}

/* See psy_generate's p->fit. Returns the answer's budget (the request fits
 * as far as counting can tell; elpis down: max_tokens unchanged). */
static int fit_request(psy_links *l, cJSON *messages, int max_tokens)
{
    long limit = (long)l->context_length - PSY_GEN_SLACK_TOKENS;
    int n = 0;
    for (int round = 0; round < 64; round++) {
        if (psy_links_count_messages(l, messages, &n)) return max_tokens;
        if (n + max_tokens <= limit) return max_tokens;
        if (n + PSY_GEN_MIN_TOKENS <= limit) return (int)(limit - n);
        int count = cJSON_GetArraySize(messages);
        if (count > 2) {
            cJSON_DeleteItemFromArray(messages, 1); /* the oldest after the first (the system prompt) */
            continue;
        }
        cut_last(messages, (double)(limit - PSY_GEN_MIN_TOKENS) / (double)n * 0.9);
        log_info("a %d-token request was cut to fit the context of %d tokens", n, l->context_length);
    }
    return PSY_GEN_MIN_TOKENS;
}

int psy_generate(psy_links *l, cJSON *messages, const psy_gen_params *p, char **out, psy_gen_usage *usage, char *err,
                 size_t errlen)
{
    *out = NULL;
    psy_gen_usage u = {-1, -1};
    int max_tokens = p->fit ? fit_request(l, messages, p->max_tokens) : p->max_tokens;
    cJSON *args = cJSON_CreateObject();
    cJSON_AddItemToObject(args, "messages", messages);
    cJSON_AddNumberToObject(args, "max_tokens", max_tokens);
    if (p->temperature >= 0) cJSON_AddNumberToObject(args, "temperature", p->temperature);
    cJSON_AddBoolToObject(args, "emotional_modulation", l->cfg->emotional_modulation);
    if (p->background) cJSON_AddBoolToObject(args, "background", 1);
    const char *session = p->session ? p->session : p->background ? PSY_GEN_BACKGROUND_SESSION : NULL;
    if (session) cJSON_AddStringToObject(args, "session", session);
    gen_state g = {.l = l, .stream = p->stream, .modulated = p->temperature < 0};
    psy_filter_init(&g.f);
    cJSON *res = NULL;
    int rc = psy_elpis(l, "generate", args, p->timeout_s * 1000, on_progress, &g, &res, err, errlen);
    const char *final = NULL;
    size_t flen = 0;
    if (g.fence_stop) {
        psy_activity_rearm(l->bus); /* the stop was ours, not a cancel */
        final = g.raw.data;
        flen = g.fence_end;
        rc = 0;
    } else if (rc == 0) {
        final = take_result(&g, res, &flen, &u);
    } else if (rc == -ETIMEDOUT || rc == -ECANCELED) {
        final = buf_str(&g.raw);
        flen = utf8_complete_prefix(final, g.raw.len);
    } else if (rc == MCP_CLIENT_TOOL_ERROR) {
        rc = -EIO; /* err has elpis's message (e.g. context overflow) */
    }
    if (final) {
        *out = strndup(final, flen);
        /* settle what the stream held back (or show it all when elpis did not stream) */
        if (p->stream && flen >= g.f.pos) emit_filtered(&g, *out, flen, true);
        if (!*out) rc = -ENOMEM;
    }
    if (usage) *usage = u;
    cJSON_Delete(res);
    buf_free(&g.raw);
    return rc;
}
