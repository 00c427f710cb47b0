/* scoring.h - the pure formulas of Mnemosyne: salience, importance, quality,
 * Reciprocal Rank Fusion and mood similarity.
 *
 * No I/O, no clock, no state: every function takes the ages it needs, so the
 * unit tests pin each formula down exactly. The search, consolidation and
 * store code call only these for numbers that reach a user. */
#ifndef MEM_SCORING_H
#define MEM_SCORING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Retrieval settings (section [retrieval] of configs/mnemosyne.toml). */
typedef struct mem_retrieval_params {
    double vector_weight;         /* RRF weight of the vector leg, 0.5 */
    double bm25_weight;           /* RRF weight of the BM25 leg, 0.5 */
    double rrf_k;                 /* 60 */
    int candidate_multiplier;     /* each leg returns multiplier * n_results, 2 */
    double min_vector_similarity; /* vector hits at or below this cosine are dropped, 0 */
    int64_t bm25_max_rows;        /* rows the BM25 leg may score, rarest terms first, 2000; 0 = no bound */
    bool quality;                 /* apply the quality score, true */
    double relevance_weight;      /* 0.5 */
    double recency_weight;        /* 0.3 */
    double importance_weight;     /* 0.2 */
    double recency_decay_rate;    /* per hour, 0.995 */
    double max_recency_hours;     /* 720 */
    double max_content_length;    /* characters for a full length factor, 500 */
    bool length_factor;           /* apply the length preference, true */
    double length_weight;         /* length factor = 1 - w * (1 - min(chars, max_content_length)/max_content_length):
                                     a short memory loses at most w; 0 (measured: no gain, docs/mnemosyne.md) */
    double superseded_factor;     /* score factor of a memory a newer one restates, 0.5 */
    double update_similarity;     /* cosine above which a new memory restating the same subject supersedes the
                                     older one (both legs must rank it first), 0.25; 0 = never link */
    double semantic_type_factor;  /* 1.2 */
    double assistant_role_factor; /* 1.1: tagged "assistant", or untagged with source assistant */
    double user_role_factor;      /* 0.9: tagged "user", or untagged with source user */
    double emotion_weight;        /* default w of the mood re-rank, 0.3 */
    bool angular_similarity;      /* (cos+1)/2 instead of 1 - euclid/2.83 */
    int default_n_results;        /* n_results of a query that gives none, 10 */
    int context_results;          /* memories get_memory_context ranks before fitting the budget, 20 */
} mem_retrieval_params;

void mem_retrieval_default_params(mem_retrieval_params *p);

/* Which of the role factors a memory gets. */
typedef enum { MEM_ROLE_NONE = 0, MEM_ROLE_USER, MEM_ROLE_ASSISTANT } mem_role;

/* The role of a memory: its "assistant" or "user" tag (assistant wins when
 * both are there; Psyche's compaction writes these tags), else its source
 * ("assistant" or "user"), else none. tags_json is the stored JSON array. */
mem_role mem_role_of(const char *tags_json, const char *source);

/* salience = 0.7*(|arousal|+1)/2 + 0.3*(|valence|+1)/2, in [0.5, 1];
 * 0.5 without an emotion. Inputs are clamped to [-1, 1]. */
double mem_salience(bool has_emotion, double valence, double arousal);

/* recency term of importance: max(0, 1 - floor(age_days)/365) (whole days,
 * as the original); a negative age (clock skew) counts as 0. */
double mem_importance_recency(double age_days);

/* access term: min(1, access_count/10). */
double mem_access_factor(int64_t access_count);

/* importance = 0.4*salience + 0.3*recency + 0.3*access. */
double mem_importance(double salience, double age_days, int64_t access_count);

/* quality recency = decay^min(age_hours, max_hours); a bad decay (outside
 * (0, 1]) falls back to 0.5 as the original did with a bad date. */
double mem_quality_recency(double age_hours, double decay, double max_hours);

/* length factor = min(chars, max_len)/max_len. */
double mem_length_factor(size_t chars, double max_len);

/* One RRF contribution: weight/(k + rank), rank counted from 1. */
double mem_rrf_term(double weight, int rank, double k);

/* Fused RRF score scaled to [0, 1]: divided by the best score possible with
 * the legs that returned anything (sum of their weights/(k+1)), so a memory
 * ranked first by every leg gets 1. The original used the raw score (at most
 * about 0.016), which made relevance negligible next to recency. */
double mem_rrf_normalise(double fused, double max_possible);

/* The length preference: 1 - weight * (1 - min(chars, max_len)/max_len), in
 * [1 - weight, 1] (weight clamped to [0, 1]). */
double mem_length_preference(size_t chars, double max_len, double weight);

/* Match strength in [0, 1], absolute (not relative to the other results):
 * the leg-weighted mean of max(cosine, 0) (vector leg in use) and the
 * lexical match share (BM25 leg in use); 0 with no leg. */
double mem_match_strength(double cosine, double match, bool use_vector, double wv, bool use_bm25, double wb);

/* The focus of a memory on the query, in [0.5, 1]: 0.5 + 0.5 * hits/words,
 * hits = the memory's content words that are words of the query, words = all
 * its content words (1 when it has none). A one-line fact made of the query's
 * words scores near 1, a long line that merely contains them near 0.5: it
 * prefers the specific memory among those that match, and cannot bury a
 * short one (a length factor could). */
double mem_match_focus(size_t hits, size_t words);

/* The multipliers mem_quality applies besides relevance, recency and
 * importance: the length preference (1 when p->length_factor is off), the
 * type factor (semantic_type_factor or 1) and the role factor
 * (assistant_/user_role_factor or 1). */
typedef struct mem_factors {
    double length, type, role;
} mem_factors;

/* Fills f (may be NULL); returns length * type * role capped at 2, the
 * factor mem_quality multiplies by. */
double mem_quality_factors(const mem_retrieval_params *p, size_t chars, bool semantic, mem_role role, mem_factors *f);

/* quality = min(1, rel * (wr + wc*recency + wi*importance)/(wr+wc+wi)
 *                  * min(2, length * type * role)). Relevance multiplies (the
 * issue's formula added it): recency and importance order memories that
 * match alike but cannot lift one that does not match. Weights are normalised
 * to sum 1 (all zero = relevance only); rel is clamped to [0, 1]; length is
 * mem_length_preference(chars, max_content_length, length_weight), 1 when
 * p->length_factor is off. */
double mem_quality(const mem_retrieval_params *p, double relevance, double age_hours, double importance, size_t chars,
                   bool semantic, mem_role role);

/* Mood similarity in [0, 1]: 1 - euclidean/2.83 (clamped at 0), or angular
 * (cos+1)/2 (0.5 when either vector is shorter than 1e-6). Either side
 * missing: 0.5. */
double mem_mood_similarity(bool has_a, double va, double aa, bool has_b, double vb, double ab, bool angular);

/* Mood-congruent re-rank: (1-w)*score + w*similarity, w clamped to [0, 1]. */
double mem_mood_rerank(double score, double similarity, double w);

/* excited / frustrated / calm / depleted, the same split as Elpis. */
const char *mem_quadrant(double valence, double arousal);


#endif
