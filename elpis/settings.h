/* settings.h - every setting of elpis, in one struct, and the table that
 * maps it to configs/elpis.toml, ELPIS_<SECTION>_<KEY> and the flags. */
#ifndef ELPIS_SETTINGS_H
#define ELPIS_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef struct elpis_settings {
    /* [model] */
    char *backend;
    char *model_path;
    char *base_url, *api_key_file, *upstream_model;
    int timeout_seconds, retries;
    int ctx;
    int threads;
    char *gpu_layers; /* an integer, -1 (all) or "auto" */
    cfg_strlist rpc_servers;
    int batch;
    int slots;
    char *chat_template;
    int seed;
    /* [sampling] */
    double temperature;
    double top_p;
    int max_tokens;
    /* [emotion] */
    double baseline_valence, baseline_arousal, decay_rate, max_delta;
    double trend_threshold, momentum_threshold;
    int history_size, velocity_window, spiral_window, spiral_min_increases;
    /* [steering] */
    char *emotion_vectors_dir;
    double steering_strength;
    int layer_start, layer_end;
    double max_norm;
    /* [server] */
    int max_streams;
    int stream_idle_seconds;
    int max_message_mb;
    /* [logging] */
    char *log_level;
    char *log_file;
} elpis_settings;

/* The key table; its destinations point into s. */
size_t elpis_settings_table(elpis_settings *s, const cfg_key **out);

#endif
