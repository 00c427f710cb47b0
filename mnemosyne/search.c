/* search.c - hybrid search: a BM25 leg (FTS5 over content, summary, tags)
 * and a vector leg (cosine over the in-memory vector copy), fused with
 * weighted Reciprocal Rank Fusion; the fused rank score (relative to the
 * query) times the absolute match strength (cosine and the share of the
 * query's words present) is the relevance; then the quality score, the
 * mood-congruent re-rank of scoring.h and the knowledge-update order (a
 * memory a newer one restates ranks below it).
 *
 * Both legs and the loading of the candidates run in one read transaction,
 * so they see the same snapshot; the access counting of what is returned is
 * a separate, short write transaction afterwards (mem_store_touch). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "store_int.h"
#include "util.h"
#include "words.h"

void mem_query_default(mem_query *q)
{
    memset(q, 0, sizeof *q);
    q->n_results = MEM_N_RESULTS_DEFAULT;
    q->use_bm25 = true;
    q->use_vector = true;
    q->quality = -1;
    q->status_mask = MEM_STATUS_ACTIVE;
    q->emotion_weight = -1;
    q->touch = true;
}

int mem__query_terms(const char *text, mem_term *terms)
{
    int n = 0;
    size_t pos = 0, len = strlen(text);
    mem_word w;
    while (n < MEM_MAX_TERMS && mem_next_word(text, len, &pos, &w)) {
        if (w.stop) continue;
        bool dup = false;
        for (int k = 0; k < n && !dup; k++) dup = !strcmp(terms[k].text, w.text);
        if (dup) continue;
        mem_term *t = &terms[n++];
        memset(t, 0, sizeof *t);
        memcpy(t->text, w.text, w.len + 1);
        memcpy(t->folded, w.text, w.len + 1);
        t->folded_len = mem_fold_plural(t->folded, w.len);
    }
    return n;
}

static int cmp_df(const void *a, const void *b)
{
    const mem_term *x = a, *y = b;
    return x->df < y->df ? -1 : x->df > y->df;
}

/* Counts each term's documents, capped at budget+1 (each count reads at most
 * that much of one doclist), and its IDF among `total` memories. */
static int term_dfs(mem_store *s, mem_term *t, int n, int64_t budget, double total)
{
    sqlite3_stmt *st;
    int rc =
        mem__prepare(s, "SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ?1 LIMIT ?2)", &st);
    if (rc) return rc;
    for (int i = 0; i < n && !rc; i++) {
        char q[80];
        snprintf(q, sizeof q, "\"%.66s\"", t[i].text); /* quoted: never FTS5 syntax */
        sqlite3_bind_text(st, 1, q, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, budget + 1);
        int x = sqlite3_step(st);
        if (x == SQLITE_ROW) t[i].df = sqlite3_column_int64(st, 0);
        else rc = mem__sql_err(s, x, "BM25 term statistics");
        sqlite3_reset(st);
        double df = (double)t[i].df;
        t[i].idf = log(1.0 + (total - df + 0.5) / (df + 0.5)); /* BM25's IDF, > 0 */
        if (!(t[i].idf > 0)) t[i].idf = 1e-3;
    }
    sqlite3_finalize(st);
    return rc;
}

/* The rarest terms whose documents add up to at most the row budget, as an
 * FTS5 expression of quoted words joined by OR (empty: nothing to rank by). */
static void bm25_match_expr(const mem_store *s, const mem_term *terms, int nt, buf *match)
{
    int64_t budget = s->p.retrieval.bm25_max_rows > 0 ? s->p.retrieval.bm25_max_rows : INT64_MAX / 4;
    mem_term sorted[MEM_MAX_TERMS];
    memcpy(sorted, terms, sizeof *terms * (size_t)nt);
    qsort(sorted, (size_t)nt, sizeof *sorted, cmp_df);
    int64_t rows = 0;
    for (int i = 0; i < nt; i++) {
        if (!sorted[i].df || rows + sorted[i].df > budget) continue;
        rows += sorted[i].df;
        buf_printf(match, "%s\"%s\"", match->len ? " OR " : "", sorted[i].text);
    }
}

/* Keeps the rows of the statuses in mask (all: no lookup). */
static bool status_ok(sqlite3_stmt *stq, unsigned mask, int64_t seq)
{
    if (mask == MEM_STATUS_ALL) return true;
    bool keep = false;
    sqlite3_bind_int64(stq, 1, seq);
    if (sqlite3_step(stq) == SQLITE_ROW) {
        mem_status ms;
        keep = mem_status_parse((const char *)sqlite3_column_text(stq, 0), &ms) == 0 && (mask & MEM_STATUS_BIT(ms));
    }
    sqlite3_reset(stq);
    return keep;
}

/* The lexical leg over terms with their dfs. BM25 (FTS5, columns weighted
 * content 1, summary 0.5, tags 1) costs a docsize lookup per matching row, so
 * the leg scores a bounded candidate set (bm25_match_expr); words in more
 * documents than the budget carry little BM25 weight and are left to the
 * vector leg. Candidates are filtered by status; the limit grows when too
 * many were filtered out. */
static int bm25_leg(mem_store *s, const mem_term *terms, int nt, unsigned mask, int k, int64_t *seq, int *n)
{
    *n = 0;
    buf match = BUF_INIT;
    bm25_match_expr(s, terms, nt, &match);
    if (!match.len) return 0;
    sqlite3_stmt *st = NULL, *stq = NULL;
    int rc = mem__prepare(s,
                          "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ?1"
                          " ORDER BY bm25(memories_fts, 1.0, 0.5, 1.0) LIMIT ?2",
                          &st);
    if (!rc) rc = mem__prepare(s, "SELECT status FROM memories WHERE seq = ?1", &stq);
    int limit = mask == MEM_STATUS_ALL ? k : 2 * k;
    while (!rc) {
        sqlite3_bind_text(st, 1, buf_str(&match), -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, limit);
        int x, got = 0;
        *n = 0;
        while ((x = sqlite3_step(st)) == SQLITE_ROW) {
            got++;
            int64_t id = sqlite3_column_int64(st, 0);
            if (*n < k && status_ok(stq, mask, id)) seq[(*n)++] = id;
        }
        sqlite3_reset(st);
        if (x != SQLITE_DONE) {
            rc = mem__sql_err(s, x, "BM25 search");
            break;
        }
        if (*n >= k || got < limit || limit >= (1 << 20)) break; /* enough, or no more rows */
        limit *= 4;
    }
    sqlite3_finalize(st);
    sqlite3_finalize(stq);
    buf_free(&match);
    return rc;
}

int mem__bm25_top(mem_store *s, const char *text, unsigned mask, int k, int64_t *seq, int *n)
{
    *n = 0;
    mem_term terms[MEM_MAX_TERMS];
    int nt = mem__query_terms(text, terms);
    if (!nt) return 0;
    int64_t budget = s->p.retrieval.bm25_max_rows > 0 ? s->p.retrieval.bm25_max_rows : INT64_MAX / 4;
    int rc = term_dfs(s, terms, nt, budget, (double)s->vx.n);
    return rc ? rc : bm25_leg(s, terms, nt, mask, k, seq, n);
}

int mem__vector_top(mem_store *s, const float *qv, unsigned mask, int k, int64_t *seq, float *sc, size_t *n)
{
    /* preselect 2k on the int8 copy, keep the best k by exact cosine */
    size_t kpre = (size_t)(k * 2 > 20 ? k * 2 : 20);
    int rc = mem__vx_sync(s);
    if (rc) return rc;
    *n = mem__vx_top(&s->vx, qv, mask, kpre, seq, sc);
    if ((rc = mem__vx_exact(s, qv, seq, sc, *n))) return rc;
    if (*n > (size_t)k) *n = (size_t)k;
    return 0;
}

/* Access bookkeeping commits without an fsync even under synchronous FULL:
 * a power loss may forget the last access counts, never a memory, and a
 * search does not pay a disk flush. (WAL keeps this consistent; the next
 * FULL commit flushes these frames too.) */
int mem_store_touch(mem_store *s, const char *const *ids, size_t n)
{
    if (!n) return 0;
    double now = mem_store_now(s);
    if (s->p.synchronous_full) sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    int rc = mem__begin_write(s);
    if (rc) {
        if (s->p.synchronous_full) sqlite3_exec(s->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
        return rc;
    }
    sqlite3_stmt *sel = NULL, *upd = NULL;
    rc = mem__prepare(s, "SELECT salience, created_at, access_count FROM memories WHERE id = ?1", &sel);
    if (!rc)
        rc = mem__prepare(s, "UPDATE memories SET access_count = ?2, last_accessed = ?3, importance = ?4 WHERE id = ?1",
                          &upd);
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_text(sel, 1, ids[i], -1, SQLITE_STATIC);
        int x = sqlite3_step(sel);
        if (x == SQLITE_ROW) {
            double sal = sqlite3_column_double(sel, 0), created = sqlite3_column_double(sel, 1);
            int64_t cnt = sqlite3_column_int64(sel, 2) + 1;
            sqlite3_reset(sel);
            sqlite3_bind_text(upd, 1, ids[i], -1, SQLITE_STATIC);
            sqlite3_bind_int64(upd, 2, cnt);
            sqlite3_bind_double(upd, 3, now);
            sqlite3_bind_double(upd, 4, mem_importance(sal, (now - created) / 86400.0, cnt));
            x = sqlite3_step(upd);
            sqlite3_reset(upd);
            if (x != SQLITE_DONE) rc = mem__sql_err(s, x, "counting an access");
        } else {
            sqlite3_reset(sel);
            if (x != SQLITE_DONE) rc = mem__sql_err(s, x, "counting an access");
        }
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    if (!rc) rc = mem__commit(s);
    mem__rollback(s);
    if (s->p.synchronous_full) sqlite3_exec(s->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    return rc;
}

/* ------------------------------------------------------------ scoring */

typedef struct cand {
    int64_t seq;
    double fused, cosine;
    bool has_cosine;
    int vrank, brank;
    double score;
    mem_record r;
    bool loaded;
} cand;

/* Everything the scoring of one query needs. */
typedef struct search_ctx {
    mem_store *s;
    const mem_query *q;
    const mem_retrieval_params *rp;
    bool use_vec, use_bm25, quality;
    double wv, wb, w_mood, now, maxp;
    double max_focus; /* the highest focus among the candidates that match (1 when none) */
    float *qv;
    mem_term terms[MEM_MAX_TERMS];
    int nt;
    cand *c;
    size_t nc;
} search_ctx;

static cand *cand_get(search_ctx *x, int64_t seq)
{
    for (size_t i = 0; i < x->nc; i++)
        if (x->c[i].seq == seq) return &x->c[i];
    cand *c = &x->c[x->nc++];
    memset(c, 0, sizeof *c);
    c->seq = seq;
    return c;
}

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->loaded != y->loaded) return x->loaded ? -1 : 1;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    if (x->fused != y->fused) return x->fused < y->fused ? 1 : -1;
    return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

/* Marks in found[] the query terms that occur among the words of text; adds
 * to *words its content words and to *hits those that are query terms. */
static void words_found(const search_ctx *x, const char *text, bool *found, size_t *words, size_t *hits)
{
    size_t pos = 0, len = text ? strlen(text) : 0;
    mem_word w;
    while (mem_next_word(text, len, &pos, &w)) {
        if (w.stop) continue;
        size_t n = mem_fold_plural(w.text, w.len);
        bool hit = false;
        for (int i = 0; i < x->nt; i++)
            if (mem_words_match(w.text, n, x->terms[i].folded, x->terms[i].folded_len)) hit = found[i] = true;
        *words += 1;
        *hits += hit;
    }
}

/* The IDF-weighted share of the query's words that the memory contains, and
 * the memory's focus on them (mem_match_focus over its content). */
static double match_share(const search_ctx *x, const mem_record *r, double *focus)
{
    bool found[MEM_MAX_TERMS] = {false};
    size_t words = 0, hits = 0, ws = 0, hs = 0;
    words_found(x, r->content, found, &words, &hits);
    words_found(x, r->summary, found, &ws, &hs);
    words_found(x, r->tags, found, &ws, &hs);
    *focus = mem_match_focus(hits, words);
    double have = 0, all = 0;
    for (int i = 0; i < x->nt; i++) {
        all += x->terms[i].idf;
        if (found[i]) have += x->terms[i].idf;
    }
    return all > 0 ? have / all : 0.0;
}

/* Exact cosines of the candidates the vector leg did not return. */
static int fill_cosines(search_ctx *x)
{
    if (!x->use_vec) return 0;
    size_t n = 0;
    int64_t *seq = malloc(sizeof *seq * (x->nc ? x->nc : 1));
    float *sc = malloc(sizeof *sc * (x->nc ? x->nc : 1));
    int rc = (!seq || !sc) ? mem__set_err(x->s, -ENOMEM, "out of memory") : 0;
    for (size_t i = 0; !rc && i < x->nc; i++)
        if (!x->c[i].has_cosine) seq[n++] = x->c[i].seq;
    if (!rc && n) rc = mem__vx_exact(x->s, x->qv, seq, sc, n);
    for (size_t i = 0; !rc && i < n; i++) {
        cand *c = cand_get(x, seq[i]);
        c->cosine = sc[i] < -1 ? 0 : sc[i];
        c->has_cosine = true;
    }
    free(seq);
    free(sc);
    return rc;
}

/* match and focus of every loaded candidate, and the highest focus among
 * those that match. Focus counts relative to it (score_one divides): the
 * specific fact still outranks chatter that merely contains the query's
 * words, but where every candidate is alike (sessions of one length) focus
 * no longer halves the lexical leg against the vector leg. Measured in
 * docs/mnemosyne.md ("Focus"): the absolute focus cost 0.008 recall@5 on
 * the session haystack, the relative one is neutral there. */
static void lexical_parts(search_ctx *x)
{
    x->max_focus = 1;
    double best = 0;
    for (size_t i = 0; i < x->nc; i++) {
        mem_score *sc = &x->c[i].r.score;
        if (!x->c[i].loaded) continue;
        sc->focus = 1;
        sc->match = x->use_bm25 ? match_share(x, &x->c[i].r, &sc->focus) : 0;
        if (sc->match > 0 && sc->focus > best) best = sc->focus;
    }
    if (best > 0) x->max_focus = best;
}

static void score_one(const search_ctx *x, cand *c)
{
    const mem_retrieval_params *rp = x->rp;
    mem_record *r = &c->r;
    mem_score *sc = &r->score;
    double age_h = (x->now - r->created_at) / 3600.0;
    sc->bm25_rank = c->brank;
    sc->vector_rank = c->vrank;
    sc->rrf = mem_rrf_normalise(c->fused, x->maxp);
    sc->cosine = c->cosine;
    sc->focus /= x->max_focus;
    sc->relevance =
        sc->rrf * mem_match_strength(c->cosine, sc->match * sc->focus, x->use_vec, x->wv, x->use_bm25, x->wb);
    sc->recency = mem_quality_recency(age_h, rp->recency_decay_rate, rp->max_recency_hours);
    sc->importance = mem_importance(r->salience, age_h / 24.0, r->access_count);
    sc->mood = -1;
    sc->length = sc->type = sc->role = 1;
    double score = sc->relevance;
    if (x->quality) {
        size_t chars = utf8_count(r->content, strlen(r->content));
        bool semantic = !strcmp(r->memory_type, "semantic");
        mem_role role = mem_role_of(r->tags, r->source);
        mem_factors f;
        mem_quality_factors(rp, chars, semantic, role, &f);
        sc->length = f.length, sc->type = f.type, sc->role = f.role;
        score = mem_quality(rp, sc->relevance, age_h, sc->importance, chars, semantic, role);
    }
    sc->quality = score;
    sc->mood_weight = 0;
    if (x->q->has_emotion && x->w_mood > 0) {
        sc->mood = mem_mood_similarity(true, x->q->valence, x->q->arousal, r->emotion.present, r->emotion.valence,
                                       r->emotion.arousal, rp->angular_similarity);
        sc->mood_weight = x->w_mood;
        score = mem_mood_rerank(score, sc->mood, x->w_mood);
    }
    sc->superseded = r->superseded_by[0] && r->status != MEM_ARCHIVED;
    sc->superseded_factor = sc->superseded ? rp->superseded_factor : 1;
    score *= sc->superseded_factor;
    c->score = score;
    r->relevance = score;
}

/* Loads and scores every candidate inside the read transaction. */
static int load_and_score(search_ctx *x)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s FROM memories WHERE seq = ?1", mem__record_cols);
    sqlite3_stmt *ld = NULL;
    int rc = mem__prepare(x->s, sql, &ld);
    for (size_t i = 0; i < x->nc && !rc; i++) {
        cand *c = &x->c[i];
        sqlite3_bind_int64(ld, 1, c->seq);
        int st = sqlite3_step(ld);
        if (st == SQLITE_ROW) {
            rc = mem__row_to_record(ld, 0, &c->r);
            c->loaded = rc == 0;
        } else if (st != SQLITE_DONE) {
            rc = mem__sql_err(x->s, st, "loading search results");
        }
        sqlite3_reset(ld);
    }
    if (!rc) rc = fill_cosines(x);
    if (!rc) lexical_parts(x);
    for (size_t i = 0; i < x->nc && !rc; i++)
        if (x->c[i].loaded) score_one(x, &x->c[i]);
    sqlite3_finalize(ld);
    return rc;
}

/* A memory that a newer one restates never ranks above that newer one: the
 * newer moves up to just above it (bounded, so hand-made cycles end). */
static void order_updates(cand *c, size_t n)
{
    size_t moves = 0, i = 0;
    while (i < n && moves <= n * n) {
        size_t j = i + 1;
        if (c[i].loaded && c[i].r.superseded_by[0] && c[i].r.status != MEM_ARCHIVED)
            while (j < n && !(c[j].loaded && !strcmp(c[j].r.id, c[i].r.superseded_by))) j++;
        else j = n;
        if (j == n) {
            i++;
            continue;
        }
        cand t = c[j];
        memmove(&c[i + 1], &c[i], (j - i) * sizeof *c);
        c[i] = t; /* look again at position i: the newer may itself be restated further down */
        moves++;
    }
}

static int validate(mem_store *s, const mem_query *q, int n_results)
{
    if (!q->text) return mem__set_err(s, -EINVAL, "query is required");
    size_t n = strlen(q->text);
    if (n > MEM_MAX_QUERY_BYTES)
        return mem__set_err(s, -EINVAL, "query is %zu bytes, over the limit of %d; shorten it", n, MEM_MAX_QUERY_BYTES);
    if (!utf8_valid(q->text, n)) return mem__set_err(s, -EINVAL, "query is not valid UTF-8");
    bool blank = true;
    for (size_t i = 0; i < n && blank; i++) blank = strchr(" \t\r\n\f\v", q->text[i]) != NULL;
    if (blank) return mem__set_err(s, -EINVAL, "query is empty; say what to look for");
    if (n_results < 1 || n_results > MEM_MAX_RESULTS)
        return mem__set_err(s, -EINVAL, "n_results must be in 1..%d (got %d)", MEM_MAX_RESULTS, n_results);
    if (!q->status_mask || q->status_mask > MEM_STATUS_ALL)
        return mem__set_err(s, -EINVAL, "status filter is empty or unknown");
    if (q->has_emotion &&
        (!isfinite(q->valence) || !isfinite(q->arousal) || fabs(q->valence) > 1 || fabs(q->arousal) > 1))
        return mem__set_err(s, -EINVAL, "emotional_context valence and arousal must be numbers in -1..1");
    if (q->emotion_weight > 1 || isnan(q->emotion_weight))
        return mem__set_err(s, -EINVAL, "emotion_weight must be in 0..1 (got %g)", q->emotion_weight);
    if (!q->use_bm25 && !q->use_vector) return mem__set_err(s, -EINVAL, "no search leg enabled");
    return 0;
}

/* Which legs run and with which weights (both weights 0: plain ranks). */
static void ctx_init(search_ctx *x, mem_store *s, const mem_query *q)
{
    memset(x, 0, sizeof *x);
    const mem_retrieval_params *rp = &s->p.retrieval;
    x->s = s;
    x->q = q;
    x->rp = rp;
    x->use_vec = q->use_vector && rp->vector_weight > 0;
    x->use_bm25 = q->use_bm25 && rp->bm25_weight > 0;
    if (!x->use_vec && !x->use_bm25) x->use_vec = q->use_vector, x->use_bm25 = q->use_bm25;
    x->wv = rp->vector_weight > 0 ? rp->vector_weight : 1;
    x->wb = rp->bm25_weight > 0 ? rp->bm25_weight : 1;
    x->quality = q->quality < 0 ? rp->quality : q->quality > 0;
    x->w_mood = q->emotion_weight < 0 ? rp->emotion_weight : q->emotion_weight;
    x->now = mem_store_now(s);
}

/* Both legs and their Reciprocal Rank Fusion, inside the read transaction. */
static int run_legs(search_ctx *x, int k)
{
    mem_store *s = x->s;
    const mem_retrieval_params *rp = x->rp;
    int64_t *vseq = malloc(sizeof *vseq * (size_t)(k * 2 > 20 ? k * 2 : 20)), *bseq = malloc(sizeof *bseq * (size_t)k);
    float *vsc = malloc(sizeof *vsc * (size_t)(k * 2 > 20 ? k * 2 : 20));
    int rc = (!vseq || !bseq || !vsc) ? mem__set_err(s, -ENOMEM, "out of memory") : 0;
    size_t nv = 0;
    int nb = 0;
    bool qzero = true;
    for (int i = 0; x->use_vec && i < mem_embedder_dim(s->emb) && qzero; i++) qzero = x->qv[i] == 0.0f;
    if (!rc && x->use_vec && !qzero) rc = mem__vector_top(s, x->qv, x->q->status_mask, k, vseq, vsc, &nv);
    while (nv && vsc[nv - 1] <= rp->min_vector_similarity) nv--;
    int64_t budget = rp->bm25_max_rows > 0 ? rp->bm25_max_rows : INT64_MAX / 4;
    if (!rc && x->nt) rc = term_dfs(s, x->terms, x->nt, budget, (double)s->vx.n);
    if (!rc && x->use_bm25) rc = bm25_leg(s, x->terms, x->nt, x->q->status_mask, k, bseq, &nb);
    for (size_t i = 0; !rc && i < nv; i++) {
        cand *c = cand_get(x, vseq[i]);
        c->vrank = (int)i + 1;
        c->cosine = vsc[i];
        c->has_cosine = true;
        c->fused += mem_rrf_term(x->wv, (int)i + 1, rp->rrf_k);
    }
    for (int i = 0; !rc && i < nb; i++) {
        cand *c = cand_get(x, bseq[i]);
        c->brank = i + 1;
        c->fused += mem_rrf_term(x->wb, i + 1, rp->rrf_k);
    }
    x->maxp = (nv ? mem_rrf_term(x->wv, 1, rp->rrf_k) : 0) + (nb ? mem_rrf_term(x->wb, 1, rp->rrf_k) : 0);
    free(vseq);
    free(bseq);
    free(vsc);
    return rc;
}

/* Counts the returned memories as accessed (a failure is logged, not returned). */
static void touch_results(mem_store *s, mem_record *res, size_t n, double now)
{
    const char **ids = malloc(n * sizeof *ids);
    if (!ids) return;
    for (size_t i = 0; i < n; i++) ids[i] = res[i].id;
    if (mem_store_touch(s, ids, n) == 0) {
        for (size_t i = 0; i < n; i++) {
            res[i].access_count++;
            res[i].last_accessed = now;
            res[i].importance =
                mem_importance(res[i].salience, (now - res[i].created_at) / 86400.0, res[i].access_count);
        }
    } else {
        log_warn("search: access counts not updated: %s", s->err);
        s->err[0] = '\0';
    }
    free(ids);
}

/* Hands the best n_results candidates to the caller (malloc'd array). */
static int take_results(search_ctx *x, int n_results, mem_record **out, size_t *nout)
{
    qsort(x->c, x->nc, sizeof *x->c, cmp_cand);
    order_updates(x->c, x->nc);
    size_t take = 0;
    while (take < x->nc && take < (size_t)n_results && x->c[take].loaded) take++;
    mem_record *res = calloc(take ? take : 1, sizeof *res);
    if (!res) return mem__set_err(x->s, -ENOMEM, "out of memory");
    for (size_t i = 0; i < take; i++) {
        res[i] = x->c[i].r;
        memset(&x->c[i].r, 0, sizeof x->c[i].r);
        x->c[i].loaded = false;
    }
    if (x->q->touch && take) touch_results(x->s, res, take, x->now);
    *out = res;
    *nout = take;
    return 0;
}

int mem_store_search(mem_store *s, const mem_query *q, mem_record **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    const mem_retrieval_params *rp = &s->p.retrieval;
    int n_results = q->n_results == MEM_N_RESULTS_DEFAULT ? rp->default_n_results : q->n_results;
    int rc = validate(s, q, n_results);
    if (rc) return rc;
    search_ctx x;
    ctx_init(&x, s, q);
    int k = n_results * (rp->candidate_multiplier > 0 ? rp->candidate_multiplier : 1);
    if ((rc = mem__vectors_ready(s))) return rc;
    x.nt = mem__query_terms(q->text, x.terms);
    x.qv = malloc(sizeof *x.qv * (size_t)mem_embedder_dim(s->emb));
    x.c = calloc(2 * (size_t)k, sizeof *x.c);
    if (!x.qv || !x.c) {
        rc = mem__set_err(s, -ENOMEM, "out of memory");
    } else if (x.use_vec && (rc = mem_embed(s->emb, q->text, strlen(q->text), x.qv))) {
        mem__set_err(s, rc, "embedding the query failed");
    } else if (!(rc = mem__begin_read(s))) {
        if (!(rc = run_legs(&x, k)) && !(rc = load_and_score(&x))) mem__commit(s);
        else mem__rollback(s);
        if (!rc) rc = take_results(&x, n_results, out, nout);
    }
    for (size_t i = 0; x.c && i < x.nc; i++)
        if (x.c[i].loaded) mem_record_clear(&x.c[i].r);
    free(x.c);
    free(x.qv);
    return rc;
}
