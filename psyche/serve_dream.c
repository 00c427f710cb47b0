/* serve_dream.c - dreaming while nobody is there: after [idle] dream_after_s
 * without a request (and then every dream_interval_s), the worker dreams for
 * one user whose memories are open (round robin): the theme follows the
 * mood, memories surface through the theme's queries, elpis dreams on its
 * background sequence, and an insight is kept in that user's memories - as
 * the terminal UI dreams (idle.h, prompt.h). Any request cancels the dream at
 * once (psy_serve_submit sets dream_cancel). What a dream shows, the insight
 * kept and a consolidation are also kept in the dreamer's ring of thoughts
 * (serve_thoughts.h) for the clients. Worker thread only, except
 * psy_serve_thought. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "idle.h"
#include "log.h"
#include "mcp_client.h"
#include "prompt.h"
#include "serve_int.h"
#include "serve_memory.h"
#include "util.h"

void psy_serve_thought(psy_serve *s, int user, const char *kind, const char *theme, const char *text)
{
    size_t i = user < 0 ? 0 : (size_t)user;
    pthread_mutex_lock(&s->mu);
    int rc = i < s->n_thought_users ? psy_thoughts_add(&s->thoughts[i], now_wall(), kind, theme, text) : -ENOENT;
    pthread_mutex_unlock(&s->mu);
    if (rc) log_warn("thoughts: could not keep a %s thought for user %d: %s", kind, user, strerror(-rc));
}

bool psy_serve_dream_due(psy_serve *s, double now)
{
    const psy_settings *c = s->cfg;
    if (!c->idle || !c->dreams || !c->memory || !s->n_users || !s->elpis_up) return false;
    if (now - s->last_activity < c->dream_after_s) return false;
    return s->last_dream < 0 || now - s->last_dream >= c->dream_interval_s;
}

/* The memories the theme's queries surface, without duplicates, at most max. */
static cJSON *surface(psy_serve *s, int user, const cJSON *queries, int max)
{
    cJSON *mems = cJSON_CreateArray();
    const cJSON *q;
    cJSON_ArrayForEach(q, queries)
    {
        if (cJSON_GetArraySize(mems) >= max || __atomic_load_n(&s->dream_cancel, __ATOMIC_ACQUIRE)) break;
        cJSON *found = psy_serve_mem_search(s, user, q->valuestring, 3);
        const cJSON *m;
        cJSON_ArrayForEach(m, found)
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
            bool dup = false;
            const cJSON *have;
            cJSON_ArrayForEach(have, mems)
            {
                const cJSON *hid = cJSON_GetObjectItemCaseSensitive(have, "id");
                if (cJSON_IsString(id) && cJSON_IsString(hid) && !strcmp(id->valuestring, hid->valuestring)) dup = true;
            }
            if (!dup && cJSON_GetArraySize(mems) < max) cJSON_AddItemToArray(mems, cJSON_Duplicate(m, 1));
        }
        cJSON_Delete(found);
    }
    return mems;
}

static cJSON *dream_messages(const psy_dream_theme *theme, const cJSON *mems)
{
    char *prompt = psy_prompt_dream(theme->theme, theme->guidance, mems);
    cJSON *msgs = cJSON_CreateArray();
    cJSON *sys = cJSON_CreateObject(), *usr = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", psy_prompt_dream_system());
    cJSON_AddStringToObject(usr, "role", "user");
    cJSON_AddStringToObject(usr, "content", prompt ? prompt : "");
    cJSON_AddItemToArray(msgs, sys);
    cJSON_AddItemToArray(msgs, usr);
    free(prompt);
    return msgs;
}

/* An insight from the dream goes into the dreamer's memories. */
static void keep_insight(psy_serve *s, int user, const psy_dream_theme *theme, const char *text)
{
    if (!psy_dream_has_insight(text)) return;
    buf c = BUF_INIT, tg = BUF_INIT;
    buf_printf(&c, "[Dream insight - %s] %s", theme->theme, text);
    buf_printf(&tg, "theme:%s", theme->theme);
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "content", buf_str(&c));
    cJSON_AddStringToObject(args, "memory_type", "semantic");
    cJSON *tags = cJSON_AddArrayToObject(args, "tags");
    const char *t[] = {"dream", "insight", "server", buf_str(&tg)};
    for (size_t i = 0; i < 4; i++) cJSON_AddItemToArray(tags, cJSON_CreateString(t[i]));
    cJSON_AddStringToObject(args, "source", "dream");
    if (!psy_serve_mem_store(s, user, args)) {
        psy_metrics_stored(&s->metrics);
        log_info("dream: kept an insight about %s", theme->theme);
        buf_reset(&c);
        buf_printf(&c, "kept an insight from a dream about %s", theme->theme);
        psy_serve_thought(s, user, "memory", NULL, buf_str(&c));
    }
    buf_free(&c);
    buf_free(&tg);
}

/* Streamed pieces of the dream: only counted (the log says how far it got). */
static void on_piece(void *ud, double progress, const char *message)
{
    (void)message;
    *(double *)ud = progress;
}

static cJSON *emotion(psy_serve *s)
{
    cJSON *res = NULL;
    char err[256];
    if (mcp_client_call(s->elpis.c, "get_emotion", cJSON_CreateObject(), 10000, NULL, NULL, NULL, &res, err,
                        sizeof err)) {
        cJSON_Delete(res);
        return NULL;
    }
    return res;
}

/* As the terminal UI while idle: after a dream, at most every [memory]
 * consolidate_check_s, the dreamer's memories are consolidated where
 * mnemosyne recommends it; a request cancels it as it cancels the dream. */
static void consolidate_while_idle(psy_serve *s, int user)
{
    double now = now_mono();
    if (s->last_consolidate_check >= 0 && now - s->last_consolidate_check < s->cfg->consolidate_check_s) return;
    s->last_consolidate_check = now;
    char summary[256];
    int rc =
        psy_serve_mem_consolidate(s, user, s->cfg->call_timeout_s * 1000, &s->dream_cancel, summary, sizeof summary);
    if (rc == -ECANCELED) log_info("memory: consolidation cancelled by a request");
    if (rc == 1) psy_serve_thought(s, user, "memory", NULL, summary);
}

void psy_serve_dream(psy_serve *s)
{
    int user = psy_serve_mem_next_active(s, s->dream_user);
    if (user == -2) return; /* no user's memories are open: nobody to dream for */
    s->dream_user = user;
    cJSON *emo = emotion(s);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(emo, "quadrant");
    const psy_dream_theme *theme = psy_dream_theme_for(cJSON_IsString(q) ? q->valuestring : NULL);
    cJSON *queries = psy_dream_queries(theme, emo, 9);
    cJSON *mems = surface(s, user, queries, s->cfg->dream_max_memories);
    cJSON *args = cJSON_CreateObject();
    cJSON_AddItemToObject(args, "messages", dream_messages(theme, mems));
    cJSON_AddNumberToObject(args, "max_tokens", s->cfg->dream_max_tokens);
    cJSON_AddNumberToObject(args, "temperature", s->cfg->dream_temperature);
    cJSON_AddBoolToObject(args, "background", 1); /* the conversations' KV prefix stays */
    cJSON *res = NULL;
    char err[512] = "";
    log_info("dream: about %s for user %d (%d memories)", theme->theme, user, cJSON_GetArraySize(mems));
    double tokens = 0;
    int rc = mcp_client_call(s->elpis.c, "generate", args, s->cfg->generation_timeout_s * 1000, on_piece, &tokens,
                             &s->dream_cancel, &res, err, sizeof err);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(res, "content");
    if (!rc && cJSON_IsString(text) && *text->valuestring) {
        psy_serve_thought(s, user, "dream", theme->theme, text->valuestring); /* shown first, as in the TUI */
        keep_insight(s, user, theme, text->valuestring);
    } else if (rc == -ECANCELED) log_info("dream: cancelled by a request after %.0f tokens", tokens);
    else if (rc) log_warn("dream: %s", err);
    cJSON_Delete(res);
    cJSON_Delete(mems);
    cJSON_Delete(queries);
    cJSON_Delete(emo);
    if (rc != -ECANCELED) consolidate_while_idle(s, user);
}
