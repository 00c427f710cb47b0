/* consolidate.c - reversible consolidation of short-term memories.
 *
 * Candidates: short-term memories older than min_age_hours, the top
 * max_batch_size by (recomputed) importance. Greedy clustering in that order:
 * a memory joins the current cluster when cosine(centroid, its vector) >=
 * similarity_threshold, the centroid being the running mean (not
 * re-normalised, as the original). A cluster whose average importance >=
 * importance_threshold promotes its most important member to long-term; the
 * others become archived with superseded_by = the promoted id, and the
 * promoted memory lists their ids in its lineage. Nothing is deleted.
 * Short-term memories untouched for stale_days and below the threshold are
 * archived as "stale", so the short-term buffer cannot grow forever.
 *
 * The whole run is one BEGIN IMMEDIATE transaction: the candidates are read
 * under the write lock, so two processes consolidating at once cannot both
 * promote the same memories. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "store_int.h"
#include "util.h"

typedef struct cmem {
    int64_t seq;
    char id[MEM_ID_LEN];
    double created_at;
    double importance;
    char *lineage;
    float *vec; /* NULL when the memory has no current vector */
    int cluster;
} cmem;

void mem_consolidation_report_free(mem_consolidation_report *r)
{
    for (size_t i = 0; i < r->n_clusters; i++) free(r->clusters[i].source_ids);
    free(r->clusters);
    memset(r, 0, sizeof *r);
}

static double cosine_c(const double *c, const float *e, int dim)
{
    double dot = 0, nc = 0, ne = 0;
    for (int i = 0; i < dim; i++) {
        dot += c[i] * e[i];
        nc += c[i] * c[i];
        ne += (double)e[i] * e[i];
    }
    if (nc <= 0 || ne <= 0) return 0.0;
    return dot / (sqrt(nc) * sqrt(ne));
}

/* The batch: short-term memories older than min_age_hours, the top
 * max_batch_size by importance recomputed now (ties: older first). Ranked
 * inside SQLite over the covering status index, then the few chosen rows
 * are read in full. */
static int load_candidates(mem_store *s, double now, cmem **out, size_t *n)
{
    size_t batch = (size_t)(s->p.consolidation.max_batch_size > 0 ? s->p.consolidation.max_batch_size : 50);
    sqlite3_stmt *st, *row;
    int rc =
        mem__prepare(s,
                     "SELECT seq, created_at, mnemo_importance(salience, (?2 - created_at) / 86400.0, access_count)"
                     " AS imp FROM memories INDEXED BY memories_status_created"
                     " WHERE status = 'short_term' AND created_at <= ?1 ORDER BY imp DESC, created_at, seq LIMIT ?3",
                     &st);
    if (rc) return rc;
    rc = mem__prepare(s, "SELECT id, lineage FROM memories WHERE seq = ?1", &row);
    if (rc) {
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_bind_double(st, 1, now - s->p.consolidation.min_age_hours * 3600.0);
    sqlite3_bind_double(st, 2, now);
    sqlite3_bind_int64(st, 3, (int64_t)batch);
    cmem *v = calloc(batch, sizeof *v);
    size_t k = 0;
    int x = SQLITE_DONE;
    while (v && !rc && k < batch && (x = sqlite3_step(st)) == SQLITE_ROW) {
        cmem *m = &v[k];
        m->seq = sqlite3_column_int64(st, 0);
        m->created_at = sqlite3_column_double(st, 1);
        m->importance = sqlite3_column_double(st, 2);
        m->cluster = -1;
        sqlite3_bind_int64(row, 1, m->seq);
        if (sqlite3_step(row) == SQLITE_ROW) {
            const char *id = (const char *)sqlite3_column_text(row, 0);
            const char *lin = (const char *)sqlite3_column_text(row, 1);
            snprintf(m->id, sizeof m->id, "%s", id ? id : "");
            if (!(m->lineage = strdup(lin ? lin : "[]"))) rc = mem__set_err(s, -ENOMEM, "out of memory");
            else k++;
        }
        sqlite3_reset(row);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(row);
    if (!v) return mem__set_err(s, -ENOMEM, "out of memory");
    if (!rc && x != SQLITE_DONE && x != SQLITE_ROW) rc = mem__sql_err(s, x, "reading candidates");
    if (rc) {
        for (size_t i = 0; i < k; i++) free(v[i].lineage);
        free(v);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

static int load_vectors(mem_store *s, cmem *m, size_t n, int dim)
{
    sqlite3_stmt *st;
    int rc = mem__prepare(s, "SELECT vec FROM memory_vectors WHERE seq = ?1 AND model = ?2", &st);
    if (rc) return rc;
    size_t want = sizeof(float) * (size_t)dim;
    for (size_t i = 0; i < n && !rc; i++) {
        sqlite3_bind_int64(st, 1, m[i].seq);
        sqlite3_bind_text(st, 2, mem_embedder_name(s->emb), -1, SQLITE_STATIC);
        int x = sqlite3_step(st);
        if (x == SQLITE_ROW && (size_t)sqlite3_column_bytes(st, 0) == want) {
            if (!(m[i].vec = malloc(want))) rc = mem__set_err(s, -ENOMEM, "out of memory");
            else memcpy(m[i].vec, sqlite3_column_blob(st, 0), want);
        } else if (x != SQLITE_ROW && x != SQLITE_DONE) {
            rc = mem__sql_err(s, x, "reading vectors");
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* lineage JSON + the given ids, without duplicates. */
static char *merge_lineage(const char *lineage, const cmem *m, size_t n, int cluster, size_t skip)
{
    cJSON *arr = cJSON_Parse(lineage);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        arr = cJSON_CreateArray();
    }
    for (size_t i = 0; arr && i < n; i++) {
        if (m[i].cluster != cluster || i == skip) continue;
        bool dup = false;
        const cJSON *it;
        cJSON_ArrayForEach(it, arr) if (cJSON_IsString(it) && !strcmp(it->valuestring, m[i].id)) dup = true;
        if (!dup) cJSON_AddItemToArray(arr, cJSON_CreateString(m[i].id));
    }
    char *out = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return out;
}

static int exec_update(mem_store *s, sqlite3_stmt *st)
{
    int x = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return x == SQLITE_DONE ? 0 : mem__sql_err(s, x, "consolidation update");
}

/* Archives short-term memories untouched for stale_days whose importance is
 * below the threshold. Collects their seqs for the vector copy. The rows
 * are read first and updated afterwards: the update changes the index the
 * query walks. */
static int archive_stale(mem_store *s, double now, double imp_th, int64_t **seqs, size_t *nseq, int *count)
{
    double days = s->p.consolidation.stale_days;
    if (!(days > 0)) return 0;
    sqlite3_stmt *sel, *upd = NULL;
    int rc = mem__prepare(s,
                          "SELECT seq, mnemo_importance(salience, (?2 - created_at) / 86400.0, access_count) AS imp"
                          " FROM memories INDEXED BY memories_status_created"
                          " WHERE status = 'short_term' AND created_at < ?1 AND last_accessed < ?1 AND imp < ?3",
                          &sel);
    if (rc) return rc;
    sqlite3_bind_double(sel, 1, now - days * 86400.0);
    sqlite3_bind_double(sel, 2, now);
    sqlite3_bind_double(sel, 3, imp_th);
    size_t n = 0, cap = 0;
    int64_t *v = NULL;
    double *imp = NULL;
    int x;
    while ((x = sqlite3_step(sel)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            int64_t *v2 = realloc(v, cap * sizeof *v);
            double *i2 = v2 ? realloc(imp, cap * sizeof *imp) : NULL;
            if (v2) v = v2;
            if (i2) imp = i2;
            if (!v2 || !i2) {
                rc = mem__set_err(s, -ENOMEM, "out of memory");
                break;
            }
        }
        v[n] = sqlite3_column_int64(sel, 0);
        imp[n++] = sqlite3_column_double(sel, 1);
    }
    if (!rc && x != SQLITE_DONE) rc = mem__sql_err(s, x, "finding stale memories");
    sqlite3_finalize(sel);
    if (!rc)
        rc = mem__prepare(s,
                          "UPDATE memories SET status = 'archived', archived_at = ?2, archive_reason = 'stale',"
                          " importance = ?3 WHERE seq = ?1",
                          &upd);
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_int64(upd, 1, v[i]);
        sqlite3_bind_double(upd, 2, now);
        sqlite3_bind_double(upd, 3, imp[i]);
        rc = exec_update(s, upd);
    }
    sqlite3_finalize(upd);
    free(imp);
    if (rc) {
        free(v);
        return rc;
    }
    *seqs = v;
    *nseq = n;
    *count = (int)n;
    return 0;
}

static int add_summary(mem_consolidation_report *r, const cmem *m, size_t n, int cluster, size_t promoted, double avg)
{
    mem_cluster_summary *cs = realloc(r->clusters, (r->n_clusters + 1) * sizeof *cs);
    if (!cs) return -ENOMEM;
    r->clusters = cs;
    mem_cluster_summary *c = &cs[r->n_clusters];
    memset(c, 0, sizeof *c);
    size_t size = 0;
    for (size_t i = 0; i < n; i++) size += m[i].cluster == cluster;
    c->source_ids = calloc(size ? size : 1, sizeof *c->source_ids);
    if (!c->source_ids) return -ENOMEM;
    snprintf(c->promoted_id, sizeof c->promoted_id, "%s", m[promoted].id);
    snprintf(c->source_ids[c->cluster_size++], MEM_ID_LEN, "%s", m[promoted].id);
    for (size_t i = 0; i < n; i++)
        if (m[i].cluster == cluster && i != promoted)
            snprintf(c->source_ids[c->cluster_size++], MEM_ID_LEN, "%s", m[i].id);
    c->avg_importance = avg;
    r->n_clusters++;
    return 0;
}

/* One consolidation run: its inputs, candidates, statements and what changed. */
typedef struct crun {
    mem_store *s;
    mem_consolidation_report *r;
    double now, imp_th, sim_th;
    int dim;
    cmem *m;
    size_t n;
    int64_t *changed; /* seqs whose status changed, for the vector copy */
    mem_status *newst;
    size_t nchanged;
    sqlite3_stmt *promote, *archive, *setimp;
} crun;

/* Greedy clustering in importance order: a memory joins the current cluster
 * when its cosine to the running centroid reaches sim_th. Memories without a
 * vector stay singletons. Returns the number of clusters, -ENOMEM. */
static int cluster(crun *c)
{
    double *centroid = malloc(sizeof *centroid * (size_t)c->dim);
    if (!centroid) return -ENOMEM;
    int nclusters = 0;
    for (size_t i = 0; i < c->n; i++) {
        cmem *m = c->m;
        if (m[i].cluster >= 0) continue;
        int cl = nclusters++;
        m[i].cluster = cl;
        if (!m[i].vec) continue;
        for (int d = 0; d < c->dim; d++) centroid[d] = m[i].vec[d];
        int size = 1;
        for (size_t j = i + 1; j < c->n; j++) {
            if (m[j].cluster >= 0 || !m[j].vec) continue;
            if (cosine_c(centroid, m[j].vec, c->dim) < c->sim_th) continue;
            m[j].cluster = cl;
            size++;
            for (int d = 0; d < c->dim; d++) centroid[d] = (centroid[d] * (size - 1) + m[j].vec[d]) / size;
        }
    }
    free(centroid);
    return nclusters;
}

static int prepare_updates(crun *c)
{
    /* a knowledge-update link to a member of the cluster is absorbed by the promotion */
    int rc = mem__prepare(c->s,
                          "UPDATE memories SET status = 'long_term', importance = ?2, lineage = ?3,"
                          " superseded_by = CASE WHEN superseded_by IN (SELECT value FROM json_each(?3)) THEN NULL"
                          " ELSE superseded_by END WHERE seq = ?1",
                          &c->promote);
    if (!rc)
        rc = mem__prepare(c->s,
                          "UPDATE memories SET status = 'archived', superseded_by = ?2, archived_at = ?3,"
                          " archive_reason = 'consolidated', importance = ?4 WHERE seq = ?1",
                          &c->archive);
    if (!rc) rc = mem__prepare(c->s, "UPDATE memories SET importance = ?2 WHERE seq = ?1", &c->setimp);
    return rc;
}

static void note_change(crun *c, int64_t seq, mem_status st)
{
    c->changed[c->nchanged] = seq;
    c->newst[c->nchanged++] = st;
}

/* A cluster above the threshold: its best member is promoted (lineage: the
 * others), the others are archived pointing at it. */
static int promote_cluster(crun *c, int cl, size_t best, double avg)
{
    cmem *m = c->m;
    char *lin = merge_lineage(m[best].lineage, m, c->n, cl, best);
    if (!lin) return mem__set_err(c->s, -ENOMEM, "out of memory");
    sqlite3_bind_int64(c->promote, 1, m[best].seq);
    sqlite3_bind_double(c->promote, 2, m[best].importance);
    sqlite3_bind_text(c->promote, 3, lin, -1, SQLITE_TRANSIENT);
    free(lin);
    int rc = exec_update(c->s, c->promote);
    if (rc) return rc;
    note_change(c, m[best].seq, MEM_LONG_TERM);
    c->r->memories_promoted++;
    for (size_t i = 0; i < c->n && !rc; i++) {
        if (m[i].cluster != cl || i == best) continue;
        sqlite3_bind_int64(c->archive, 1, m[i].seq);
        sqlite3_bind_text(c->archive, 2, m[best].id, -1, SQLITE_STATIC);
        sqlite3_bind_double(c->archive, 3, c->now);
        sqlite3_bind_double(c->archive, 4, m[i].importance);
        if ((rc = exec_update(c->s, c->archive))) break;
        note_change(c, m[i].seq, MEM_ARCHIVED);
        c->r->memories_archived++;
    }
    if (!rc && add_summary(c->r, m, c->n, cl, best, avg)) rc = mem__set_err(c->s, -ENOMEM, "out of memory");
    return rc;
}

/* Promotes a cluster whose average importance reaches the threshold; below
 * it, only the recomputed importances are written. */
static int apply_cluster(crun *c, int cl)
{
    size_t best = SIZE_MAX, size = 0;
    double sum = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->m[i].cluster != cl) continue;
        size++;
        sum += c->m[i].importance;
        if (best == SIZE_MAX || c->m[i].importance > c->m[best].importance) best = i;
    }
    double avg = sum / (double)size;
    if (avg >= c->imp_th) return promote_cluster(c, cl, best, avg);
    c->r->memories_skipped += (int)size;
    int rc = 0;
    for (size_t i = 0; i < c->n && !rc; i++) {
        if (c->m[i].cluster != cl) continue;
        sqlite3_bind_int64(c->setimp, 1, c->m[i].seq);
        sqlite3_bind_double(c->setimp, 2, c->m[i].importance);
        rc = exec_update(c->s, c->setimp);
    }
    return rc;
}

/* Inside the write transaction: candidates, clusters, promotions, stale archiving. */
static int run_locked(crun *c, int64_t **stale, size_t *nstale)
{
    int rc = load_candidates(c->s, c->now, &c->m, &c->n);
    if (!rc) rc = load_vectors(c->s, c->m, c->n, c->dim);
    if (rc) return rc;
    c->changed = malloc(sizeof *c->changed * (c->n ? c->n : 1));
    c->newst = malloc(sizeof *c->newst * (c->n ? c->n : 1));
    int nclusters = c->changed && c->newst ? cluster(c) : -ENOMEM;
    if (nclusters < 0) return mem__set_err(c->s, -ENOMEM, "out of memory");
    c->r->clusters_formed = nclusters;
    c->r->total_processed = (int)c->n;
    rc = prepare_updates(c);
    for (int cl = 0; cl < nclusters && !rc; cl++) rc = apply_cluster(c, cl);
    if (!rc) rc = archive_stale(c->s, c->now, c->imp_th, stale, nstale, &c->r->memories_stale);
    return rc;
}

static void crun_free(crun *c)
{
    sqlite3_finalize(c->promote);
    sqlite3_finalize(c->archive);
    sqlite3_finalize(c->setimp);
    for (size_t i = 0; i < c->n; i++) {
        free(c->m[i].lineage);
        free(c->m[i].vec);
    }
    free(c->m);
    free(c->changed);
    free(c->newst);
}

int mem_store_consolidate(mem_store *s, double imp_th, double sim_th, mem_consolidation_report *r)
{
    memset(r, 0, sizeof *r);
    double t0 = now_mono();
    if (imp_th < 0) imp_th = s->p.consolidation.importance_threshold;
    if (sim_th < 0) sim_th = s->p.consolidation.similarity_threshold;
    if (!(imp_th >= 0 && imp_th <= 1))
        return mem__set_err(s, -EINVAL, "importance_threshold must be in 0..1 (got %g)", imp_th);
    if (!(sim_th >= 0 && sim_th <= 1))
        return mem__set_err(s, -EINVAL, "similarity_threshold must be in 0..1 (got %g)", sim_th);
    int rc = mem__vectors_ready(s);
    if (rc) return rc;
    crun c = {
        .s = s, .r = r, .now = mem_store_now(s), .imp_th = imp_th, .sim_th = sim_th, .dim = mem_embedder_dim(s->emb)};
    int64_t *stale = NULL;
    size_t nstale = 0;
    if (!(rc = mem__begin_write(s)) && !(rc = run_locked(&c, &stale, &nstale))) rc = mem__commit(s);
    mem__rollback(s);
    if (rc) {
        mem_consolidation_report_free(r);
    } else {
        for (size_t i = 0; i < c.nchanged; i++) mem__vx_note(s, c.changed[i], c.newst[i], NULL);
        for (size_t i = 0; i < nstale; i++) mem__vx_note(s, stale[i], MEM_ARCHIVED, NULL);
    }
    crun_free(&c);
    free(stale);
    r->duration_seconds = now_mono() - t0;
    if (!rc)
        log_info("consolidation: %d processed, %d clusters, %d promoted, %d archived, %d stale, %.3f s",
                 r->total_processed, r->clusters_formed, r->memories_promoted, r->memories_archived, r->memories_stale,
                 r->duration_seconds);
    return rc;
}
