/* serve_thoughts.c - the per-user ring of the server's thoughts (see
 * serve_thoughts.h). Pure data: no locking, no I/O. */
#include "serve_thoughts.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static long next_seq(const psy_thought_ring *r) { return r->next > 0 ? r->next : 1; }

static void clear(psy_thought *t)
{
    free(t->kind);
    free(t->theme);
    free(t->text);
    memset(t, 0, sizeof *t);
}

int psy_thoughts_add(psy_thought_ring *r, double time, const char *kind, const char *theme, const char *text)
{
    char *k = strdup(kind), *th = theme ? strdup(theme) : NULL, *tx = strdup(text);
    if (!k || !tx || (theme && !th)) {
        free(k);
        free(th);
        free(tx);
        return -ENOMEM;
    }
    long seq = next_seq(r);
    psy_thought *t = &r->items[seq % PSY_THOUGHTS_KEEP];
    clear(t); /* the oldest, when the ring is full */
    *t = (psy_thought){.seq = seq, .time = time, .kind = k, .theme = th, .text = tx};
    r->next = seq + 1;
    return 0;
}

static cJSON *entry_json(const psy_thought *t)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    bool ok = cJSON_AddNumberToObject(o, "seq", (double)t->seq) && cJSON_AddNumberToObject(o, "time", t->time) &&
              cJSON_AddStringToObject(o, "kind", t->kind) && cJSON_AddStringToObject(o, "text", t->text) &&
              (!t->theme || cJSON_AddStringToObject(o, "theme", t->theme));
    if (ok) return o;
    cJSON_Delete(o);
    return NULL;
}

cJSON *psy_thoughts_since(const psy_thought_ring *r, long since)
{
    long next = next_seq(r), first = next - PSY_THOUGHTS_KEEP;
    if (first < since) first = since;
    if (first < 1) first = 1;
    cJSON *o = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(o, "thoughts");
    if (!list || !cJSON_AddNumberToObject(o, "next", (double)next)) {
        cJSON_Delete(o);
        return NULL;
    }
    for (long seq = first; seq < next; seq++) {
        const psy_thought *t = &r->items[seq % PSY_THOUGHTS_KEEP];
        if (t->seq != seq) continue; /* defensive: every kept seq is in its slot */
        cJSON *e = entry_json(t);
        if (!e) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToArray(list, e);
    }
    return o;
}

void psy_thoughts_free(psy_thought_ring *r)
{
    for (size_t i = 0; i < PSY_THOUGHTS_KEEP; i++) clear(&r->items[i]);
    r->next = 0;
}
