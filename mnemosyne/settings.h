/* settings.h - every setting of mnemosyne in one struct, the table that maps
 * it to configs/mnemosyne.toml, MNEMOSYNE_<SECTION>_<KEY> and the flags, and
 * the translation into the store's parameters. */
#ifndef MEM_SETTINGS_H
#define MEM_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "store.h"

typedef struct mem_settings {
    /* [storage] */
    char *db_path;
    char *embedding_model;
    int embedding_dim, embedding_ctx, embedding_threads, embedding_gpu_layers;
    char *synchronous;
    int busy_timeout_ms;
    int full_check_max_mb;
    int max_content_bytes;
    int summary_chars;
    /* [consolidation] */
    double importance_threshold, similarity_threshold, min_age_hours, stale_days;
    int max_batch_size, buffer_threshold;
    /* [retrieval] */
    double vector_weight, bm25_weight, rrf_k, min_vector_similarity;
    int candidate_multiplier;
    int bm25_max_rows;
    bool quality;
    double relevance_weight, recency_weight, importance_weight;
    double recency_decay_rate, max_recency_hours, max_content_length;
    bool length_factor;
    double length_weight, superseded_factor, update_similarity;
    double semantic_type_factor, assistant_role_factor, user_role_factor;
    double emotion_weight;
    bool use_angular_similarity;
    int default_n_results;
    int context_results;
    /* [trust] */
    cfg_strlist low_trust_sources;
    /* [logging] */
    char *log_level;
    char *log_file;
} mem_settings;

/* The key table; its destinations point into s. */
size_t mem_settings_table(mem_settings *s, const cfg_key **out);

/* Fills store parameters from loaded settings (pointers borrow from s, and
 * from path_buf for the expanded db path). -EINVAL with a message for a
 * value the table cannot range-check (synchronous). */
int mem_settings_to_params(const mem_settings *s, mem_store_params *p, char *path_buf, size_t path_len, char *err,
                           size_t errlen);

#endif
