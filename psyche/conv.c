/* conv.c - one conversation's state (see conv.h). */
#include "conv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "prompt.h"

int psy_conv_new(psy_conv **out, const psy_conv_params *p)
{
    *out = NULL;
    psy_conv *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    psy_context_init(&c->ctx, p->min_keep, p->count, p->count_ud);
    psy_context_set_budget(&c->ctx, p->context_length, p->max_fraction, p->reserve_fraction);
    c->usage.last_prompt_tokens = -1;
    static unsigned next_id; /* [atomic] */
    snprintf(c->session, sizeof c->session, "conv-%u", __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED));
    *out = c;
    return 0;
}

void psy_conv_free(psy_conv *c)
{
    if (!c) return;
    psy_context_free(&c->ctx);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void psy_conv_lock(psy_conv *c) { pthread_mutex_lock(&c->mu); }
void psy_conv_unlock(psy_conv *c) { pthread_mutex_unlock(&c->mu); }

void psy_conv_set_context(psy_conv *c, int context_length, double max_fraction, double reserve_fraction)
{
    psy_context_set_budget(&c->ctx, context_length, max_fraction, reserve_fraction);
    psy_context_recount(&c->ctx);
}

int psy_conv_set_system_prompt(psy_conv *c, const cJSON *tools, bool reasoning, int *level)
{
    int avail = psy_context_available(&c->ctx);
    for (int lv = PSY_PROMPT_FULL; lv <= PSY_PROMPT_MINIMAL; lv++) {
        char *sys = psy_prompt_system(tools, reasoning, lv);
        int rc = sys ? psy_context_set_system(&c->ctx, sys) : -ENOMEM;
        free(sys);
        if (rc) return rc;
        if (level) *level = lv;
        int used = c->ctx.msgs[0].tokens;
        if (used <= avail / 2 || lv == PSY_PROMPT_MINIMAL) break;
        log_warn("the system prompt (%d tokens) would take over half of the conversation budget (%d); using a %s one",
                 used, avail, lv == PSY_PROMPT_FULL ? "compact" : "minimal");
    }
    return 0;
}

void psy_conv_note_usage(psy_conv *c, size_t n_rendered, long prompt_tokens, long completion_tokens)
{
    c->usage.generations++;
    c->usage.last_prompt_tokens = prompt_tokens;
    if (prompt_tokens > 0) {
        c->usage.prompt_tokens += prompt_tokens;
        psy_context_calibrate(&c->ctx, n_rendered, prompt_tokens);
    }
    if (completion_tokens > 0) c->usage.completion_tokens += completion_tokens;
}

void psy_conv_clear(psy_conv *c) { psy_context_clear(&c->ctx); }

cJSON *psy_conv_messages(psy_conv *c)
{
    psy_conv_lock(c);
    cJSON *r = psy_context_render(&c->ctx);
    psy_conv_unlock(c);
    return r;
}

void psy_conv_get_usage(psy_conv *c, psy_usage *out)
{
    psy_conv_lock(c);
    *out = c->usage;
    psy_conv_unlock(c);
}

size_t psy_conv_staged(psy_conv *c)
{
    psy_conv_lock(c);
    size_t n = c->ctx.n_staged;
    psy_conv_unlock(c);
    return n;
}
