/* search.c - hybrid search: a BM25 leg (FTS5 over content, summary, tags)
 * and a vector leg (cosine over the in-memory vector copy), fused with
 * weighted Reciprocal Rank Fusion, the fused score normalised to [0, 1],
 * then the quality score and the mood-congruent re-rank of scoring.h.
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

#define MAX_TERMS 16

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

static bool word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

typedef struct term {
    char text[66];
    int64_t df; /* documents containing it, counted up to the row budget + 1 */
} term;

/* The distinct non-stop words of the query, lower-cased (at most MAX_TERMS). */
static int query_terms(const char *text, term *terms)
{
    int n = 0;
    size_t i = 0, len = strlen(text);
    while (i < len && n < MAX_TERMS) {
        while (i < len && !word_byte((unsigned char)text[i])) i++;
        size_t st = i;
        while (i < len && word_byte((unsigned char)text[i])) i++;
        size_t wl = i - st;
        if (!wl) break;
        if (wl > 64) wl = 64;
        char w[66];
        for (size_t k = 0; k < wl; k++) {
            char c = text[st + k];
            w[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        wl = utf8_complete_prefix(w, wl); /* a cut in the middle of a character */
        w[wl] = '\0';
        if (!wl || mem_is_stopword(w, wl) || (wl == 1 && (unsigned char)w[0] < 0x80)) continue;
        bool dup = false;
        for (int k = 0; k < n && !dup; k++) dup = !strcmp(terms[k].text, w);
        if (!dup) {
            memcpy(terms[n].text, w, wl + 1);
            terms[n++].df = 0;
        }
    }
    return n;
}

static int cmp_df(const void *a, const void *b)
{
    const term *x = a, *y = b;
    return x->df < y->df ? -1 : x->df > y->df;
}

/* Counts each term's documents, capped at budget+1 (each count reads at most
 * that much of one doclist). */
static int term_dfs(mem_store *s, term *t, int n, int64_t budget)
{
    sqlite3_stmt *st;
    int rc = mem__prepare(s, "SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ?1 LIMIT ?2)", &st);
    if (rc) return rc;
    for (int i = 0; i < n && !rc; i++) {
        char q[80];
        snprintf(q, sizeof q, "\"%.66s\"", t[i].text); /* quoted: never FTS5 syntax */
        sqlite3_bind_text(st, 1, q, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, budget + 1);
        int x = sqlite3_step(st);
        if (x == SQLITE_ROW)
            t[i].df = sqlite3_column_int64(st, 0);
        else
            rc = mem__sql_err(s, x, "BM25 term statistics");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* The lexical leg. BM25 (FTS5, columns weighted content 1, summary 0.5, tags
 * 1) costs a docsize lookup per matching row, so the leg scores a bounded
 * candidate set: the query's terms rarest first, as long as their documents
 * add up to at most bm25_max_rows. Terms in more documents than that carry
 * little BM25 weight (low IDF) and are left to the vector leg. Candidates are
 * then filtered by status; the limit grows when too many were filtered out. */
static int bm25_leg(mem_store *s, const char *text, unsigned mask, int k, int64_t *seq, int *n)
{
    *n = 0;
    term terms[MAX_TERMS];
    int nt = query_terms(text, terms);
    if (!nt) return 0;
    int64_t budget = s->p.retrieval.bm25_max_rows > 0 ? s->p.retrieval.bm25_max_rows : INT64_MAX / 4;
    int rc = term_dfs(s, terms, nt, budget);
    if (rc) return rc;
    qsort(terms, (size_t)nt, sizeof *terms, cmp_df);
    buf match = BUF_INIT;
    int64_t rows = 0;
    for (int i = 0; i < nt; i++) {
        if (!terms[i].df || rows + terms[i].df > budget) continue;
        rows += terms[i].df;
        buf_printf(&match, "%s\"%s\"", match.len ? " OR " : "", terms[i].text);
    }
    if (!match.len) return 0; /* no term matches, or all are too common to rank by */
    sqlite3_stmt *st, *stq;
    rc = mem__prepare(s, "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ?1"
                         " ORDER BY bm25(memories_fts, 1.0, 0.5, 1.0) LIMIT ?2", &st);
    if (!rc) rc = mem__prepare(s, "SELECT status FROM memories WHERE seq = ?1", &stq);
    else stq = NULL;
    int limit = mask == MEM_STATUS_ALL ? k : 2 * k;
    while (!rc) {
        sqlite3_bind_text(st, 1, buf_str(&match), -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, limit);
        int x, got = 0;
        *n = 0;
        while ((x = sqlite3_step(st)) == SQLITE_ROW) {
            got++;
            int64_t id = sqlite3_column_int64(st, 0);
            bool keep = mask == MEM_STATUS_ALL;
            if (!keep) {
                sqlite3_bind_int64(stq, 1, id);
                if (sqlite3_step(stq) == SQLITE_ROW) {
                    mem_status ms;
                    keep = mem_status_parse((const char *)sqlite3_column_text(stq, 0), &ms) == 0 &&
                           (mask & MEM_STATUS_BIT(ms));
                }
                sqlite3_reset(stq);
            }
            if (keep && *n < k) seq[(*n)++] = id;
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

typedef struct cand {
    int64_t seq;
    double fused;
    int vrank, brank;
    double score;
    mem_record r;
    bool loaded;
} cand;

static cand *cand_get(cand *c, size_t *n, int64_t seq)
{
    for (size_t i = 0; i < *n; i++)
        if (c[i].seq == seq) return &c[i];
    cand *x = &c[(*n)++];
    memset(x, 0, sizeof *x);
    x->seq = seq;
    return x;
}

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    if (x->fused != y->fused) return x->fused < y->fused ? 1 : -1;
    return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
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
    if (q->has_emotion && (!isfinite(q->valence) || !isfinite(q->arousal) || fabs(q->valence) > 1 || fabs(q->arousal) > 1))
        return mem__set_err(s, -EINVAL, "emotional_context valence and arousal must be numbers in -1..1");
    if (q->emotion_weight > 1 || isnan(q->emotion_weight))
        return mem__set_err(s, -EINVAL, "emotion_weight must be in 0..1 (got %g)", q->emotion_weight);
    if (!q->use_bm25 && !q->use_vector) return mem__set_err(s, -EINVAL, "no search leg enabled");
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
    int mult = rp->candidate_multiplier > 0 ? rp->candidate_multiplier : 1;
    int k = n_results * mult;
    bool use_vec = q->use_vector && rp->vector_weight > 0;
    bool use_bm25 = q->use_bm25 && rp->bm25_weight > 0;
    if (!use_vec && !use_bm25) use_vec = q->use_vector, use_bm25 = q->use_bm25; /* both weights 0: plain ranks */
    double wv = rp->vector_weight > 0 ? rp->vector_weight : 1, wb = rp->bm25_weight > 0 ? rp->bm25_weight : 1;

    if ((rc = mem__vectors_ready(s))) return rc;
    int dim = mem_embedder_dim(s->emb);
    int kpre = k * 2 > 20 ? k * 2 : 20;
    float *qv = malloc(sizeof *qv * (size_t)dim);
    int64_t *vseq = malloc(sizeof *vseq * (size_t)kpre), *bseq = malloc(sizeof *bseq * (size_t)k);
    float *vsc = malloc(sizeof *vsc * (size_t)kpre);
    cand *c = calloc((size_t)(2 * k), sizeof *c);
    size_t nc = 0;
    if (!qv || !vseq || !bseq || !vsc || !c) {
        rc = mem__set_err(s, -ENOMEM, "out of memory");
        goto done;
    }
    bool qzero = true;
    if (use_vec) {
        if ((rc = mem_embed(s->emb, q->text, strlen(q->text), qv))) {
            mem__set_err(s, rc, "embedding the query failed");
            goto done;
        }
        for (int i = 0; i < dim && qzero; i++) qzero = qv[i] == 0.0f;
    }

    if ((rc = mem__begin_read(s))) goto done;
    size_t nv = 0;
    int nb = 0;
    if (use_vec && !qzero) {
        /* preselect 2k on the int8 copy, keep the best k by exact cosine */
        if ((rc = mem__vx_sync(s))) goto rollback;
        nv = mem__vx_top(&s->vx, qv, q->status_mask, (size_t)kpre, vseq, vsc);
        if ((rc = mem__vx_exact(s, qv, vseq, vsc, nv))) goto rollback;
        if (nv > (size_t)k) nv = (size_t)k;
        while (nv && vsc[nv - 1] <= rp->min_vector_similarity) nv--;
    }
    if (use_bm25 && (rc = bm25_leg(s, q->text, q->status_mask, k, bseq, &nb))) goto rollback;

    /* Reciprocal Rank Fusion, then normalised by the best score possible with the legs that answered. */
    for (size_t i = 0; i < nv; i++) {
        cand *x = cand_get(c, &nc, vseq[i]);
        x->vrank = (int)i + 1;
        x->fused += mem_rrf_term(wv, (int)i + 1, rp->rrf_k);
    }
    for (int i = 0; i < nb; i++) {
        cand *x = cand_get(c, &nc, bseq[i]);
        x->brank = i + 1;
        x->fused += mem_rrf_term(wb, i + 1, rp->rrf_k);
    }
    double maxp = (nv ? mem_rrf_term(wv, 1, rp->rrf_k) : 0) + (nb ? mem_rrf_term(wb, 1, rp->rrf_k) : 0);

    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s FROM memories WHERE seq = ?1", mem__record_cols);
    sqlite3_stmt *ld;
    if ((rc = mem__prepare(s, sql, &ld))) goto rollback;
    double now = mem_store_now(s);
    bool quality = q->quality < 0 ? rp->quality : q->quality > 0;
    double w = q->emotion_weight < 0 ? rp->emotion_weight : q->emotion_weight;
    for (size_t i = 0; i < nc && !rc; i++) {
        sqlite3_bind_int64(ld, 1, c[i].seq);
        int x = sqlite3_step(ld);
        if (x == SQLITE_ROW) {
            rc = mem__row_to_record(ld, 0, &c[i].r);
            c[i].loaded = rc == 0;
        } else if (x != SQLITE_DONE) {
            rc = mem__sql_err(s, x, "loading search results");
        }
        sqlite3_reset(ld);
        if (!c[i].loaded) {
            c[i].score = -1;
            continue;
        }
        mem_record *r = &c[i].r;
        double rel = mem_rrf_normalise(c[i].fused, maxp);
        double score = rel;
        if (quality) {
            double age_h = (now - r->created_at) / 3600.0;
            double imp = mem_importance(r->salience, age_h / 24.0, r->access_count);
            size_t chars = mem_utf8_chars(r->content, strlen(r->content));
            score = mem_quality(rp, rel, age_h, imp, chars, !strcmp(r->memory_type, "semantic"), mem_role_of(r->tags, r->source));
        }
        if (q->has_emotion && w > 0) {
            double sim = mem_mood_similarity(true, q->valence, q->arousal, r->emotion.present, r->emotion.valence,
                                             r->emotion.arousal, rp->angular_similarity);
            score = mem_mood_rerank(score, sim, w);
        }
        c[i].score = score;
        r->relevance = score;
    }
    sqlite3_finalize(ld);
    if (rc) goto rollback;
    mem__commit(s);

    qsort(c, nc, sizeof *c, cmp_cand);
    size_t take = 0;
    while (take < nc && take < (size_t)n_results && c[take].loaded) take++;
    mem_record *res = calloc(take ? take : 1, sizeof *res);
    if (!res) {
        rc = mem__set_err(s, -ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < take; i++) {
        res[i] = c[i].r;
        memset(&c[i].r, 0, sizeof c[i].r);
        c[i].loaded = false;
    }
    if (q->touch && take) {
        const char **ids = malloc(take * sizeof *ids);
        if (ids) {
            for (size_t i = 0; i < take; i++) ids[i] = res[i].id;
            if (mem_store_touch(s, ids, take) == 0) {
                for (size_t i = 0; i < take; i++) {
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
    }
    *out = res;
    *nout = take;
    goto done;
rollback:
    mem__rollback(s);
done:
    if (c)
        for (size_t i = 0; i < nc; i++)
            if (c[i].loaded) mem_record_clear(&c[i].r);
    free(c);
    free(qv);
    free(vseq);
    free(bseq);
    free(vsc);
    return rc;
}
