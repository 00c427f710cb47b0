/* serve_conv.c - the conversation table of `psyche serve` (see
 * serve_conv.h): lookup, eviction of idle and least recently used entries. */
#include "serve_conv.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int psy_convs_init(psy_conv_table *t, size_t cap, double idle_s)
{
    memset(t, 0, sizeof *t);
    t->v = calloc(cap ? cap : 1, sizeof *t->v);
    if (!t->v) return -ENOMEM;
    t->cap = cap ? cap : 1;
    t->idle_s = idle_s;
    return 0;
}

void psy_convs_free(psy_conv_table *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}

void psy_conv_key(int user_index, char kind, const char *identity, char *out)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *c = identity ? identity : ""; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    snprintf(out, PSY_CONV_KEY, "%d:%c:%016llx", user_index, kind, (unsigned long long)h);
}

static void remove_at(psy_conv_table *t, size_t i) { t->v[i] = t->v[--t->n]; /* order does not matter */ }

size_t psy_convs_evict_idle(psy_conv_table *t, double now)
{
    size_t gone = 0;
    for (size_t i = 0; i < t->n;) {
        if (now - t->v[i].last_used > t->idle_s) {
            remove_at(t, i);
            gone++;
        } else i++;
    }
    return gone;
}

static psy_conv_entry *find(psy_conv_table *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].key, key)) return &t->v[i];
    return NULL;
}

psy_conv_entry *psy_convs_touch(psy_conv_table *t, const char *key, double now)
{
    psy_convs_evict_idle(t, now);
    psy_conv_entry *e = find(t, key);
    if (!e) {
        if (t->n == t->cap) { /* full: the least recently used one goes */
            size_t lru = 0;
            for (size_t i = 1; i < t->n; i++)
                if (t->v[i].last_used < t->v[lru].last_used) lru = i;
            remove_at(t, lru);
        }
        e = &t->v[t->n++];
        memset(e, 0, sizeof *e);
        snprintf(e->key, sizeof e->key, "%s", key);
    }
    e->last_used = now;
    e->requests++;
    return e;
}

void psy_convs_usage(psy_conv_table *t, const char *key, long prompt, long completion, long cached)
{
    psy_conv_entry *e = find(t, key);
    if (!e) return;
    e->prompt_tokens += prompt;
    e->completion_tokens += completion;
    e->cached_tokens += cached;
}
