/* serve_conv.c - the conversation table of `psyche serve` (see
 * serve_conv.h): lookup, eviction of idle and least recently used entries. */
#include "serve_conv.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

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
    for (size_t i = 0; i < t->n; i++) free(t->v[i].transcript);
    for (size_t i = 0; i < t->n_gone; i++) free(t->gone[i].transcript);
    free(t->gone);
    free(t->v);
    memset(t, 0, sizeof *t);
}

void psy_conv_key(int user_index, char kind, const char *identity, char *out)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *c = identity ? identity : ""; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    snprintf(out, PSY_CONV_KEY, "%d:%c:%016llx", user_index, kind, (unsigned long long)h);
}

static psy_conv_entry *find(psy_conv_table *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].key, key)) return &t->v[i];
    return NULL;
}

/* Removes entry i; a transcript moves to the gone list (dropped, with a
 * log line, only when that list cannot grow). */
static void remove_at(psy_conv_table *t, size_t i)
{
    psy_conv_entry *e = &t->v[i];
    if (e->transcript) {
        psy_conv_gone *g = realloc(t->gone, (t->n_gone + 1) * sizeof *g);
        if (g) {
            t->gone = g;
            g[t->n_gone++] = (psy_conv_gone){e->user, e->transcript};
        } else {
            log_error("out of memory: conversation %s is forgotten without its summary", e->key);
            free(e->transcript);
        }
    }
    t->v[i] = t->v[--t->n]; /* order does not matter */
}

void psy_convs_evict_all(psy_conv_table *t)
{
    while (t->n) remove_at(t, t->n - 1);
}

void psy_convs_take_gone(psy_conv_table *t, psy_conv_gone **list, size_t *n)
{
    *list = t->gone;
    *n = t->n_gone;
    t->gone = NULL;
    t->n_gone = 0;
}

void psy_convs_set_transcript(psy_conv_table *t, const char *key, int user, const char *text)
{
    psy_conv_entry *e = find(t, key);
    if (!e) return;
    size_t len = strlen(text), skip = len > PSY_CONV_TRANSCRIPT_MAX ? len - PSY_CONV_TRANSCRIPT_MAX : 0;
    while (skip < len && ((unsigned char)text[skip] & 0xC0) == 0x80) skip++; /* not inside a character */
    char *copy = strdup(text + skip);
    if (!copy) return; /* the older transcript stays */
    free(e->transcript);
    e->transcript = copy;
    e->user = user;
}

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
