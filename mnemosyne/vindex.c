/* vindex.c - the in-memory copy of the stored vectors and the brute-force
 * scan of the vector leg.
 *
 * Why a copy: reading every BLOB from SQLite per search would cost far more
 * than the dot products. The copy is int8 (each vector scaled by its largest
 * component): a quarter of the memory and of the bandwidth of float32, which
 * is what a scan of 100k vectors is bound by. The scan only preselects; the
 * search re-scores its preselection with the exact float32 vectors from the
 * table (mem__vx_exact), so every cosine it reports is exact. The copy is keyed by seq (sorted, never reused) and
 * kept exact: this process updates it after each of its commits, and a
 * change of PRAGMA data_version (another connection committed) triggers a
 * merge with the table; a change of meta.vector_epoch (another process
 * re-embedded) triggers a full reload. Callers hold a read transaction so the
 * copy and the rest of the search see one snapshot. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"
#include "util.h"

/* The vector epoch recorded in meta; 0 when none is recorded (or it is not a
 * number, which only costs one reload of the index). */
static int64_t vx_epoch_of(mem_store *s)
{
    char ep[32];
    long long v = 0;
    if (mem__meta_get(s->db, "vector_epoch", ep, sizeof ep) || parse_ll(ep, 0, INT64_MAX - 1, &v)) return 0;
    return v;
}

static int64_t data_version(mem_store *s)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}


static int vx_reserve(mem_vindex *vx, size_t need)
{
    if (need <= vx->cap) return 0;
    size_t cap = vx->cap ? vx->cap : 256;
    while (cap < need) cap *= 2;
    int64_t *seq = realloc(vx->seq, cap * sizeof *seq);
    if (!seq) return -ENOMEM;
    vx->seq = seq;
    uint8_t *st = realloc(vx->status, cap * sizeof *st);
    if (!st) return -ENOMEM;
    vx->status = st;
    int8_t *q = realloc(vx->q, cap * (size_t)vx->dim);
    if (!q) return -ENOMEM;
    vx->q = q;
    float *sc = realloc(vx->scale, cap * sizeof *sc);
    if (!sc) return -ENOMEM;
    vx->scale = sc;
    vx->cap = cap;
    return 0;
}

/* int8 form of v: q = round(v * 127 / max|v|), scale = max|v| / 127. */
static void quantize(const float *v, int dim, int8_t *q, float *scale)
{
    float m = 0;
    for (int i = 0; i < dim; i++) {
        float a = v[i] < 0 ? -v[i] : v[i];
        if (a > m) m = a;
    }
    if (!(m > 0)) {
        memset(q, 0, (size_t)dim);
        *scale = 0;
        return;
    }
    float f = 127.0f / m;
    for (int i = 0; i < dim; i++) {
        float x = v[i] * f;
        q[i] = (int8_t)(x < 0 ? x - 0.5f : x + 0.5f);
    }
    *scale = m / 127.0f;
}

/* Index of seq, or of where it would go (with *found = false). */
static size_t vx_find(const mem_vindex *vx, int64_t seq, bool *found)
{
    size_t lo = 0, hi = vx->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (vx->seq[mid] < seq) lo = mid + 1;
        else hi = mid;
    }
    *found = lo < vx->n && vx->seq[lo] == seq;
    return lo;
}

int mem__vx_add(mem_vindex *vx, int64_t seq, mem_status st, const float *v)
{
    bool found;
    size_t i = vx_find(vx, seq, &found);
    size_t d = (size_t)vx->dim;
    if (found) {
        vx->status[i] = (uint8_t)st;
        quantize(v, vx->dim, vx->q + i * d, &vx->scale[i]);
        return 0;
    }
    if (vx_reserve(vx, vx->n + 1)) return -ENOMEM;
    size_t tail = vx->n - i;
    if (tail) {
        memmove(vx->seq + i + 1, vx->seq + i, tail * sizeof *vx->seq);
        memmove(vx->status + i + 1, vx->status + i, tail * sizeof *vx->status);
        memmove(vx->scale + i + 1, vx->scale + i, tail * sizeof *vx->scale);
        memmove(vx->q + (i + 1) * d, vx->q + i * d, tail * d);
    }
    vx->seq[i] = seq;
    vx->status[i] = (uint8_t)st;
    quantize(v, vx->dim, vx->q + i * d, &vx->scale[i]);
    vx->n++;
    return 0;
}

void mem__vx_set_status(mem_vindex *vx, int64_t seq, mem_status st)
{
    bool found;
    size_t i = vx_find(vx, seq, &found);
    if (found) vx->status[i] = (uint8_t)st;
}

void mem__vx_remove(mem_vindex *vx, int64_t seq)
{
    bool found;
    size_t i = vx_find(vx, seq, &found);
    if (!found) return;
    size_t d = (size_t)vx->dim, tail = vx->n - i - 1;
    memmove(vx->seq + i, vx->seq + i + 1, tail * sizeof *vx->seq);
    memmove(vx->status + i, vx->status + i + 1, tail * sizeof *vx->status);
    memmove(vx->scale + i, vx->scale + i + 1, tail * sizeof *vx->scale);
    memmove(vx->q + i * d, vx->q + (i + 1) * d, tail * d);
    vx->n--;
}

static int parse_status(sqlite3_stmt *st, int col)
{
    mem_status ms;
    return mem_status_parse((const char *)sqlite3_column_text(st, col), &ms) ? MEM_SHORT_TERM : (int)ms;
}

int mem__vx_load(mem_store *s)
{
    mem__vx_free(&s->vx);
    s->vx_loaded = false;
    s->vx.dim = mem_embedder_dim(s->emb);
    sqlite3_stmt *st;
    int rc = mem__prepare(s,
                          "SELECT m.seq, m.status, v.vec FROM memories m JOIN memory_vectors v ON v.seq = m.seq"
                          " WHERE v.model = ?1 ORDER BY m.seq",
                          &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, mem_embedder_name(s->emb), -1, SQLITE_STATIC);
    int x;
    size_t want = sizeof(float) * (size_t)s->vx.dim;
    float *tmp = malloc(want);
    if (!tmp) {
        sqlite3_finalize(st);
        return mem__set_err(s, -ENOMEM, "out of memory loading vectors");
    }
    while ((x = sqlite3_step(st)) == SQLITE_ROW) {
        if ((size_t)sqlite3_column_bytes(st, 2) != want) continue;
        if (vx_reserve(&s->vx, s->vx.n + 1)) {
            sqlite3_finalize(st);
            free(tmp);
            return mem__set_err(s, -ENOMEM, "out of memory loading vectors");
        }
        size_t i = s->vx.n++;
        s->vx.seq[i] = sqlite3_column_int64(st, 0);
        s->vx.status[i] = (uint8_t)parse_status(st, 1);
        memcpy(tmp, sqlite3_column_blob(st, 2), want); /* BLOBs need not be aligned for float */
        quantize(tmp, s->vx.dim, s->vx.q + i * (size_t)s->vx.dim, &s->vx.scale[i]);
    }
    sqlite3_finalize(st);
    free(tmp);
    if (x != SQLITE_DONE) return mem__sql_err(s, x, "loading vectors");
    s->data_version = data_version(s);
    s->vx_epoch = vx_epoch_of(s);
    s->vx_loaded = true;
    log_debug("vector copy loaded: %zu vectors of %d dimensions", s->vx.n, s->vx.dim);
    return 0;
}

typedef struct seq_status {
    int64_t seq;
    int status;
} seq_status;

static int cmp_seq(const void *a, const void *b)
{
    int64_t x = ((const seq_status *)a)->seq, y = ((const seq_status *)b)->seq;
    return x < y ? -1 : x > y;
}

/* Merges the copy with the table after other connections' commits: new rows
 * get their vectors, deleted rows go, statuses are refreshed. */
static int vx_merge(mem_store *s)
{
    sqlite3_stmt *st;
    int rc = mem__prepare(s, "SELECT seq, status FROM memories INDEXED BY memories_status_created", &st);
    if (rc) return rc;
    size_t n = 0, cap = s->vx.n + 64;
    seq_status *rows = malloc(cap * sizeof *rows);
    int x;
    while (rows && (x = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            seq_status *r2 = realloc(rows, (cap *= 2) * sizeof *rows);
            if (!r2) {
                free(rows);
                rows = NULL;
                break;
            }
            rows = r2;
        }
        rows[n].seq = sqlite3_column_int64(st, 0);
        rows[n].status = parse_status(st, 1);
        n++;
    }
    sqlite3_finalize(st);
    if (!rows) return mem__set_err(s, -ENOMEM, "out of memory syncing vectors");
    if (x != SQLITE_DONE) {
        free(rows);
        return mem__sql_err(s, x, "syncing vectors");
    }
    qsort(rows, n, sizeof *rows, cmp_seq);
    /* Build the new copy; vectors we have are kept, the others read. */
    mem_vindex nv = {.dim = s->vx.dim};
    sqlite3_stmt *vq = NULL;
    rc = mem__prepare(s, "SELECT vec FROM memory_vectors WHERE seq = ?1 AND model = ?2", &vq);
    size_t want = sizeof(float) * (size_t)nv.dim, d = (size_t)nv.dim;
    float *tmp = malloc(want);
    if (!rc && (!tmp || vx_reserve(&nv, n + 1))) rc = mem__set_err(s, -ENOMEM, "out of memory syncing vectors");
    size_t added = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        bool found;
        size_t j = vx_find(&s->vx, rows[i].seq, &found);
        if (found) {
            memcpy(nv.q + nv.n * d, s->vx.q + j * d, d);
            nv.scale[nv.n] = s->vx.scale[j];
        } else {
            sqlite3_bind_int64(vq, 1, rows[i].seq);
            sqlite3_bind_text(vq, 2, mem_embedder_name(s->emb), -1, SQLITE_STATIC);
            x = sqlite3_step(vq);
            bool ok = x == SQLITE_ROW && (size_t)sqlite3_column_bytes(vq, 0) == want;
            if (ok) {
                memcpy(tmp, sqlite3_column_blob(vq, 0), want);
                quantize(tmp, nv.dim, nv.q + nv.n * d, &nv.scale[nv.n]);
                added++;
            } else if (x != SQLITE_ROW && x != SQLITE_DONE) {
                rc = mem__sql_err(s, x, "reading a vector");
            }
            sqlite3_reset(vq);
            if (!ok) continue;
        }
        nv.seq[nv.n] = rows[i].seq;
        nv.status[nv.n] = (uint8_t)rows[i].status;
        nv.n++;
    }
    sqlite3_finalize(vq);
    free(tmp);
    free(rows);
    if (rc) {
        mem__vx_free(&nv);
        return rc;
    }
    log_debug("vector copy synced: %zu -> %zu vectors (%zu new)", s->vx.n, nv.n, added);
    mem__vx_free(&s->vx);
    s->vx = nv;
    return 0;
}

int mem__vx_sync(mem_store *s)
{
    if (!s->vx_loaded || s->vx.dim != mem_embedder_dim(s->emb)) return mem__vx_load(s);
    int64_t dv = data_version(s);
    if (dv == s->data_version) return 0;
    if (vx_epoch_of(s) != s->vx_epoch) return mem__vx_load(s);
    int rc = vx_merge(s);
    if (rc) {
        s->vx_loaded = false;
        return rc;
    }
    s->data_version = dv;
    return 0;
}

/* ------------------------------------------------ re-embedding (model change) */

#define REEMBED_BATCH 256

/* Re-embeds the memories whose vector is missing or from another model, so
 * a changed embedding_model takes effect without losing anything. Batches
 * of REEMBED_BATCH rows in seq order: each batch is read and embedded
 * outside any transaction (a GGUF model takes milliseconds per memory), then
 * written in one short transaction that skips rows deleted or edited
 * meanwhile (their content no longer matches what was embedded). */
/* One batch of memories whose vector is missing or from another model. */
typedef struct rebatch {
    int64_t seq[REEMBED_BATCH];
    char *text[REEMBED_BATCH]; /* owned */
    int n;
    float *vec; /* REEMBED_BATCH * dim */
} rebatch;

static void rebatch_clear(rebatch *b)
{
    for (int i = 0; i < b->n; i++) {
        free(b->text[i]);
        b->text[i] = NULL;
    }
    b->n = 0;
}

/* 1. reads the next batch after seq `last` (no transaction held afterwards). */
static int reembed_read(mem_store *s, const char *model, int64_t last, rebatch *b)
{
    sqlite3_stmt *sel;
    int rc = mem__prepare(s,
                          "SELECT m.seq, m.content FROM memories m LEFT JOIN memory_vectors v ON v.seq = m.seq"
                          " WHERE (v.model IS NULL OR v.model != ?1) AND m.seq > ?2 ORDER BY m.seq LIMIT ?3",
                          &sel);
    if (rc) return rc;
    sqlite3_bind_text(sel, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(sel, 2, last);
    sqlite3_bind_int(sel, 3, REEMBED_BATCH);
    int src = SQLITE_DONE;
    while (b->n < REEMBED_BATCH && (src = sqlite3_step(sel)) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(sel, 1);
        b->seq[b->n] = sqlite3_column_int64(sel, 0);
        if (!(b->text[b->n] = strdup(c ? c : ""))) {
            rc = mem__set_err(s, -ENOMEM, "out of memory");
            break;
        }
        b->n++;
    }
    if (!rc && b->n < REEMBED_BATCH && src != SQLITE_DONE) rc = mem__sql_err(s, src, "reading memories to re-embed");
    sqlite3_finalize(sel);
    return rc;
}

/* 3. writes the batch in one short transaction, skipping rows deleted or
 * edited since they were read; *written counts the vectors stored. */
static int reembed_write(mem_store *s, const char *model, int dim, const rebatch *b, int *written)
{
    *written = 0;
    sqlite3_stmt *ins = NULL;
    int rc = mem__begin_write(s);
    if (!rc)
        rc = mem__prepare(s,
                          "INSERT OR REPLACE INTO memory_vectors(seq, model, vec) SELECT ?1, ?2, ?3"
                          " WHERE EXISTS (SELECT 1 FROM memories WHERE seq = ?1 AND content = ?4)",
                          &ins);
    for (int i = 0; !rc && i < b->n; i++) {
        sqlite3_bind_int64(ins, 1, b->seq[i]);
        sqlite3_bind_text(ins, 2, model, -1, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 3, b->vec + (size_t)i * (size_t)dim, (int)(sizeof *b->vec * (size_t)dim), SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, b->text[i], -1, SQLITE_STATIC);
        int r2 = sqlite3_step(ins);
        sqlite3_reset(ins);
        if (r2 != SQLITE_DONE) rc = mem__sql_err(s, r2, "storing a vector");
        else *written += sqlite3_changes(s->db) > 0;
    }
    sqlite3_finalize(ins);
    if (!rc && *written > 0) rc = mem__bump_vector_epoch(s);
    if (!rc) rc = mem__commit(s);
    mem__rollback(s);
    return rc;
}

/* True when some memory has no vector of this model (a read, no lock kept). */
static int reembed_needed(mem_store *s, const char *model, bool *needed)
{
    sqlite3_stmt *probe;
    int rc = mem__prepare(s,
                          "SELECT 1 FROM memories m LEFT JOIN memory_vectors v ON v.seq = m.seq"
                          " WHERE v.model IS NULL OR v.model != ?1 LIMIT 1",
                          &probe);
    if (rc) return rc;
    sqlite3_bind_text(probe, 1, model, -1, SQLITE_STATIC);
    int pr = sqlite3_step(probe);
    sqlite3_finalize(probe);
    *needed = pr == SQLITE_ROW;
    return pr == SQLITE_ROW || pr == SQLITE_DONE ? 0 : mem__sql_err(s, pr, "checking the stored vectors");
}

static int reembed(mem_store *s)
{
    const char *model = mem_embedder_name(s->emb);
    int dim = mem_embedder_dim(s->emb);
    bool needed;
    int rc = reembed_needed(s, model, &needed);
    if (rc || !needed) return rc; /* every vector is current: nothing to write */
    rebatch b = {.n = 0};
    if (!(b.vec = malloc(sizeof *b.vec * (size_t)dim * REEMBED_BATCH)))
        return mem__set_err(s, -ENOMEM, "out of memory");
    int64_t done = 0, last = 0;
    while (!(rc = reembed_read(s, model, last, &b)) && b.n > 0) {
        last = b.seq[b.n - 1];
        /* 2. embed without any lock */
        for (int i = 0; i < b.n && !rc; i++)
            if ((rc = mem_embed(s->emb, b.text[i], strlen(b.text[i]), b.vec + (size_t)i * (size_t)dim)))
                mem__set_err(s, rc, "re-embedding memory %lld failed", (long long)b.seq[i]);
        int written = 0;
        if (!rc) rc = reembed_write(s, model, dim, &b, &written);
        rebatch_clear(&b);
        if (rc) break;
        done += written;
        if (done && done % 4096 < (int64_t)written) log_info("re-embedded %lld memories", (long long)done);
    }
    rebatch_clear(&b);
    free(b.vec);
    if (!rc && done) log_notice("re-embedded %lld memories with %s", (long long)done, model);
    return rc;
}

int mem__vectors_ready(mem_store *s)
{
    if (s->vectors_checked) return 0;
    if (s->p.read_only) { /* nothing may be written: vectors of another model are left out of the vector leg */
        s->vectors_checked = true;
        return 0;
    }
    int rc = reembed(s);
    if (rc) return rc;
    /* remember the model, so a later process without a configured model uses it */
    char cur[1024] = "", curpath[1024] = "";
    mem__meta_get(s->db, "embedding_model", cur, sizeof cur);
    mem__meta_get(s->db, "embedding_model_path", curpath, sizeof curpath);
    const char *want = mem_embedder_name(s->emb);
    const char *wantpath = mem_embedder_is_llama(s->emb) ? s->model_path : "";
    if (strcmp(cur, want) || strcmp(curpath, wantpath)) {
        if ((rc = mem__begin_write(s))) return rc;
        if (mem__meta_set(s->db, "embedding_model", want) || mem__meta_set(s->db, "embedding_model_path", wantpath)) {
            rc = mem__sql_err(s, sqlite3_errcode(s->db), "recording the embedding model");
            mem__rollback(s);
            return rc;
        }
        if ((rc = mem__commit(s))) return rc;
    }
    s->vectors_checked = true;
    return 0;
}

/* --------------------------------------------------------------- top k */

typedef struct hit {
    float score;
    int64_t seq;
} hit;

static void sift_down(hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].score < h[m].score) m = l;
        if (r < n && h[r].score < h[m].score) m = r;
        if (m == i) return;
        hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int cmp_hit_desc(const void *a, const void *b)
{
    const hit *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0; /* newer first on ties */
}

/* int8 dot product. GCC's -O2 does not vectorise this loop (its cheap cost
 * model refuses the remainder); O3 for this one function does, 4-8x. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))
#endif
static int32_t
dot_i8(const int8_t *restrict a, const int8_t *restrict b, int dim)
{
    int32_t s = 0;
    for (int i = 0; i < dim; i++) s += (int16_t)a[i] * (int16_t)b[i];
    return s;
}

size_t mem__vx_top(const mem_vindex *vx, const float *qv, unsigned mask, size_t k, int64_t *seq, float *score)
{
    if (!k) return 0;
    hit *h = malloc(k * sizeof *h);
    int8_t *q = malloc((size_t)vx->dim ? (size_t)vx->dim : 1);
    if (!h || !q) {
        free(h);
        free(q);
        return 0;
    }
    float qs;
    quantize(qv, vx->dim, q, &qs);
    size_t n = 0, d = (size_t)vx->dim;
    for (size_t i = 0; i < vx->n; i++) {
        if (!(mask & MEM_STATUS_BIT(vx->status[i]))) continue;
        float sc = (float)dot_i8(q, vx->q + i * d, vx->dim) * vx->scale[i] * qs;
        if (n < k) {
            h[n].score = sc;
            h[n].seq = vx->seq[i];
            n++;
            if (n == k)
                for (size_t j = k / 2 + 1; j-- > 0;) sift_down(h, n, j);
        } else if (sc > h[0].score) {
            h[0].score = sc;
            h[0].seq = vx->seq[i];
            sift_down(h, n, 0);
        }
    }
    qsort(h, n, sizeof *h, cmp_hit_desc);
    for (size_t i = 0; i < n; i++) {
        seq[i] = h[i].seq;
        score[i] = h[i].score;
    }
    free(h);
    free(q);
    return n;
}

int mem__vx_exact(mem_store *s, const float *qv, int64_t *seq, float *score, size_t n)
{
    sqlite3_stmt *st;
    int rc = mem__prepare(s, "SELECT vec FROM memory_vectors WHERE seq = ?1 AND model = ?2", &st);
    if (rc) return rc;
    int dim = mem_embedder_dim(s->emb);
    size_t want = sizeof(float) * (size_t)dim;
    float *tmp = malloc(want);
    if (!tmp) {
        sqlite3_finalize(st);
        return mem__set_err(s, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n && !rc; i++) {
        sqlite3_bind_int64(st, 1, seq[i]);
        sqlite3_bind_text(st, 2, mem_embedder_name(s->emb), -1, SQLITE_STATIC);
        int x = sqlite3_step(st);
        if (x == SQLITE_ROW && (size_t)sqlite3_column_bytes(st, 0) == want) {
            memcpy(tmp, sqlite3_column_blob(st, 0), want);
            score[i] = mem_vec_dot(qv, tmp, dim);
        } else if (x == SQLITE_ROW || x == SQLITE_DONE) {
            score[i] = -2; /* gone or re-embedded meanwhile: ranks last */
        } else {
            rc = mem__sql_err(s, x, "reading a vector");
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    free(tmp);
    if (rc) return rc;
    /* insertion sort by exact score, best first (n is small) */
    for (size_t i = 1; i < n; i++) {
        float sc = score[i];
        int64_t sq = seq[i];
        size_t j = i;
        while (j > 0 && (score[j - 1] < sc || (score[j - 1] == sc && seq[j - 1] < sq))) {
            score[j] = score[j - 1];
            seq[j] = seq[j - 1];
            j--;
        }
        score[j] = sc;
        seq[j] = sq;
    }
    return 0;
}

/* ---------------------------------------------------- after our commits */

void mem__vx_note(mem_store *s, int64_t seq, int status, const float *vec)
{
    if (!s->vx_loaded) return; /* loaded at the next search anyway */
    if (status == MEM_VX_REMOVED) mem__vx_remove(&s->vx, seq);
    else if (vec && mem__vx_add(&s->vx, seq, (mem_status)status, vec))
        s->vx_loaded = false; /* out of memory: reload at the next search */
    else if (!vec) mem__vx_set_status(&s->vx, seq, (mem_status)status);
}

void mem__vx_drop(mem_store *s)
{
    mem__vx_free(&s->vx);
    s->vx_loaded = false;
}

int mem__bump_vector_epoch(mem_store *s)
{
    char ep[32];
    snprintf(ep, sizeof ep, "%lld", (long long)vx_epoch_of(s) + 1);
    return mem__meta_set(s->db, "vector_epoch", ep)
               ? mem__sql_err(s, sqlite3_errcode(s->db), "recording the vector epoch")
               : 0;
}
