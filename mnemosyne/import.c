/* import.c - bulk writes of whole records: `mnemosyne import` and the
 * benchmarks' loaders. Validates everything first (a bad record imports
 * nothing), applies the id policy (a non-UUID id becomes a name-based UUID,
 * references follow it, the old id stays in metadata.original_id), then
 * writes in chunks of MEM_IMPORT_CHUNK rows, each embedded before its short
 * transaction, so another process never waits long for the write lock.
 * With replace, a present id is rewritten (re-indexed by the FTS trigger,
 * re-embedded, vector_epoch bumped for the other processes' copies). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "store_int.h"

void mem_import_default_opts(mem_import_opts *o) { memset(o, 0, sizeof *o); }

/* One record as an import writes it: a shallow copy of the input with the
 * id policy, trust, emotion and summary applied (the strings it had to
 * change are owned here). */
typedef struct import_rec {
    mem_record r;
    char *own_summary, *own_metadata, *own_lineage;
    int64_t seq;   /* the row, once written */
    bool embedded; /* vec holds its embedding */
    bool written;
} import_rec;

static void import_rec_free(import_rec *x)
{
    free(x->own_summary);
    free(x->own_metadata);
    free(x->own_lineage);
    memset(x, 0, sizeof *x);
}

/* The lineage with each non-UUID id mapped by mem_id_from_name. */
static char *map_lineage(const char *lineage)
{
    cJSON *arr = cJSON_Parse(lineage ? lineage : "[]");
    cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || mem_id_is_uuid(it->valuestring)) continue;
        char id[37];
        mem_id_from_name(it->valuestring, id);
        cJSON_SetValuestring(it, id);
    }
    char *out = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return out;
}

static int import_prepare(mem_store *s, const mem_record *in, const mem_import_opts *o, import_rec *x)
{
    memset(x, 0, sizeof *x);
    x->r = *in;
    mem_record *r = &x->r;
    if (!o->any_ids) {
        if (!mem_id_is_uuid(in->id)) {
            mem_id_from_name(in->id, r->id);
            cJSON *m = cJSON_Parse(in->metadata ? in->metadata : "{}");
            if (m && !cJSON_GetObjectItemCaseSensitive(m, "original_id"))
                cJSON_AddStringToObject(m, "original_id", in->id);
            x->own_metadata = m ? cJSON_PrintUnformatted(m) : NULL;
            cJSON_Delete(m);
            if (!x->own_metadata) return -ENOMEM;
            r->metadata = x->own_metadata;
        }
        if (in->superseded_by[0] && !mem_id_is_uuid(in->superseded_by))
            mem_id_from_name(in->superseded_by, r->superseded_by);
        if (in->supersedes[0] && !mem_id_is_uuid(in->supersedes)) mem_id_from_name(in->supersedes, r->supersedes);
        if (in->lineage && strcmp(in->lineage, "[]")) {
            if (!(x->own_lineage = map_lineage(in->lineage))) return -ENOMEM;
            r->lineage = x->own_lineage;
        }
    }
    if (!o->keep_trust) snprintf(r->trust, sizeof r->trust, "low");
    else if (strcmp(r->trust, "high") && strcmp(r->trust, "low"))
        snprintf(r->trust, sizeof r->trust, "%s", mem__is_low_trust(s, r->source) ? "low" : "high");
    mem_emotion e;
    mem__check_emotion(s, &in->emotion, &e);
    r->emotion = e;
    r->salience = mem_salience(e.present, e.valence, e.arousal);
    if (!r->summary || !*r->summary) {
        if (!(x->own_summary = mem__prefix_chars(r->content, s->p.summary_chars))) return -ENOMEM;
        r->summary = x->own_summary;
    }
    return 0;
}

/* Whether id is present, outside any transaction (a hint: the transaction looks again). */
static int present(mem_store *s, sqlite3_stmt *ex, const char *id, bool *yes)
{
    sqlite3_bind_text(ex, 1, id, -1, SQLITE_STATIC);
    int x = sqlite3_step(ex);
    sqlite3_reset(ex);
    *yes = x == SQLITE_ROW;
    return x == SQLITE_ROW || x == SQLITE_DONE ? 0 : mem__sql_err(s, x, "looking up an id");
}

/* One chunk: embedded first, then one transaction. Counts go to res only
 * when it commits. */
static int import_chunk(mem_store *s, const mem_record *recs, size_t n, const mem_import_opts *o, import_rec *x,
                        float *vecs, mem_import_result *res)
{
    int dim = mem_embedder_dim(s->emb);
    int rc = 0;
    size_t imported = 0, replaced = 0, skipped = 0;
    sqlite3_stmt *ex = NULL;
    for (size_t i = 0; i < n && !rc; i++)
        if (import_prepare(s, &recs[i], o, &x[i])) rc = mem__set_err(s, -ENOMEM, "out of memory");
    if (!rc) rc = mem__prepare(s, "SELECT 1 FROM memories WHERE id = ?1", &ex);
    for (size_t i = 0; i < n && !rc; i++) {
        bool there = false;
        if (!o->replace && (rc = present(s, ex, x[i].r.id, &there))) break;
        if (there) continue; /* skipped unless it vanishes meanwhile */
        float *v = vecs + i * (size_t)dim;
        if ((rc = mem_embed(s->emb, x[i].r.content, strlen(x[i].r.content), v)))
            mem__set_err(s, rc, "computing the embedding of record %zu failed", i + 1);
        x[i].embedded = true;
    }
    sqlite3_finalize(ex);
    if (!rc) rc = mem__begin_write(s);
    bool bumped = false;
    for (size_t i = 0; i < n && !rc; i++) {
        mem_record *r = &x[i].r;
        float *v = vecs + i * (size_t)dim;
        mem_record old;
        int64_t seq = 0;
        int g = mem__get_locked(s, r->id, &old, &seq);
        if (g && g != -ENOENT) {
            rc = g;
            break;
        }
        s->err[0] = '\0';
        if (!g && !o->replace) {
            mem_record_clear(&old);
            skipped++;
            continue;
        }
        if (!x[i].embedded) { /* deleted by another process since the look-up: a rare, single embedding */
            if ((rc = mem_embed(s->emb, r->content, strlen(r->content), v))) {
                mem__set_err(s, rc, "computing the embedding of record %zu failed", i + 1);
                break;
            }
            x[i].embedded = true;
        }
        if (g == -ENOENT) {
            if (!(rc = mem__insert_row(s, r, v, &x[i].seq))) imported++;
        } else {
            /* a summary that was the default of the old content follows the new content */
            char *sum = mem__changed_summary(s, old.content, old.summary, r->content,
                                             strcmp(r->summary, old.summary) ? r->summary : NULL);
            mem_record_clear(&old);
            if (!sum) {
                rc = mem__set_err(s, -ENOMEM, "out of memory");
                break;
            }
            free(x[i].own_summary);
            x[i].own_summary = sum;
            r->summary = sum;
            x[i].seq = seq;
            if (!(rc = mem__update_row(s, r, seq, v))) replaced++;
            if (!rc && !bumped) rc = mem__bump_vector_epoch(s), bumped = true;
        }
        x[i].written = !rc;
    }
    if (!rc) rc = mem__commit(s);
    mem__rollback(s);
    if (rc) return rc;
    res->imported += imported;
    res->replaced += replaced;
    res->skipped += skipped;
    for (size_t i = 0; i < n; i++)
        if (x[i].written) mem__vx_note(s, x[i].seq, x[i].r.status, vecs + i * (size_t)dim);
    return 0;
}

int mem_store_import_ex(mem_store *s, const mem_record *recs, size_t n, const mem_import_opts *o,
                        mem_import_result *res)
{
    memset(res, 0, sizeof *res);
    for (size_t i = 0; i < n; i++) {
        int rc = mem__check_record(s, &recs[i]);
        if (rc) {
            char m[sizeof s->err];
            snprintf(m, sizeof m, "%s", s->err);
            return mem__set_err(s, rc, "record %zu (id %.40s): %s; nothing was imported", i + 1, recs[i].id, m);
        }
    }
    int rc = mem__vectors_ready(s);
    if (rc) return rc;
    size_t chunk = n < MEM_IMPORT_CHUNK ? n : MEM_IMPORT_CHUNK;
    float *vecs = malloc(sizeof *vecs * (size_t)mem_embedder_dim(s->emb) * (chunk ? chunk : 1));
    import_rec *x = calloc(chunk ? chunk : 1, sizeof *x);
    if (!vecs || !x) {
        free(vecs);
        free(x);
        return mem__set_err(s, -ENOMEM, "out of memory importing %zu records", n);
    }
    for (size_t c0 = 0; c0 < n && !rc; c0 += chunk) {
        size_t cn = n - c0 < chunk ? n - c0 : chunk;
        rc = import_chunk(s, recs + c0, cn, o, x, vecs, res);
        for (size_t i = 0; i < cn; i++) import_rec_free(&x[i]);
        if (rc && c0 > 0) {
            char m[sizeof s->err];
            snprintf(m, sizeof m, "%s", s->err);
            mem__set_err(s, rc,
                         "%s; records 1..%zu were written (%zu new, %zu replaced, %zu already present) and "
                         "the rest not: run the same import again to finish it",
                         m, c0, res->imported, res->replaced, res->skipped);
        }
    }
    free(vecs);
    free(x);
    return rc;
}

int mem_store_import(mem_store *s, const mem_record *recs, size_t n, bool keep_trust, size_t *imported, size_t *skipped)
{
    mem_import_opts o;
    mem_import_default_opts(&o);
    o.keep_trust = keep_trust;
    o.any_ids = true;
    mem_import_result res;
    int rc = mem_store_import_ex(s, recs, n, &o, &res);
    *imported = res.imported;
    *skipped = res.skipped;
    return rc;
}
