/* settings.h - psyche's configuration: one struct, one table of keys.
 *
 * Layers: defaults < configs/psyche.toml (or --config) < PSYCHE_<SECTION>_<KEY>
 * < flags. configs/psyche.toml documents every key; `psyche --print-config`
 * regenerates it. The strings and lists are owned by the config layer
 * (cfg_free). */
#ifndef PSY_SETTINGS_H
#define PSY_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef struct psy_settings {
    /* [model] */
    char *model_path;
    /* [children] */
    cfg_strlist elpis_command;
    cfg_strlist mnemosyne_command;
    int start_attempts;
    int start_timeout_s;
    int call_timeout_s;
    int restart_max;
    int restart_window_s;
    int restart_retry_s;
    int restart_backoff_max_s;
    int stop_grace_ms;
    /* [workspace] */
    char *workspace;
    bool dangerous_commands;
    bool sandbox;
    bool allow_network;
    bool sandbox_tmp;
    int bash_timeout_s;
    /* [agent] */
    int max_iterations;
    int generation_timeout_s;
    int max_tokens;
    int tool_result_max_chars;
    bool reasoning;
    bool emotional_modulation;
    /* [context] */
    double max_fraction;
    double reserve_fraction;
    int min_messages;
    char *compaction; /* "sliding", "summarize" or "summarise" (psy_settings_summarize) */
    int fallback_context_length;
    /* [memory] */
    bool memory;
    char *db_path;
    char *fallback_file;
    bool auto_retrieval;
    int retrieval_count;
    bool auto_store;
    double importance_threshold;
    int consolidate_check_s;
    double consolidate_importance;
    double consolidate_similarity;
    /* [idle] */
    bool idle;
    int think_after_s;
    int quiet_after_user_s;
    int think_max_tokens;
    double think_temperature;
    bool idle_tools;
    int idle_max_tool_calls;
    int idle_tool_warmup_s;
    int idle_tool_cooldown_s;
    int idle_result_max_chars;
    bool dreams;
    int dream_after_s;
    int dream_interval_s;
    int dream_max_tokens;
    double dream_temperature;
    int dream_max_memories;
    /* [shutdown] */
    bool summary;
    int summary_max_tokens;
    double summary_temperature;
    bool shutdown_consolidate;
    /* not a key: set by the front-end (false for `psyche -p` unless --summary);
     * psy_settings_table sets it to true */
    bool quit_summary;
    /* [paths] */
    char *state_dir;
    /* [logging] */
    char *log_level;
    char *log_file;
} psy_settings;

/* The key table pointing into s (static storage; one settings struct at a
 * time). Also sets the fields that are not keys to their defaults. */
size_t psy_settings_table(psy_settings *s, const cfg_key **out);

/* [paths] state_dir, or $XDG_STATE_HOME/psyche, or ~/.local/state/psyche,
 * created (mode 0700) if missing. malloc'd; NULL with err set on failure. */
char *psy_settings_state_dir(const psy_settings *s, char *err, size_t errlen);
/* True when [context] compaction asks for summaries ("summarize" or "summarise"). */
bool psy_settings_summarize(const psy_settings *s);
/* True when [context] compaction is one of the accepted spellings. */
bool psy_settings_compaction_valid(const psy_settings *s);

/* $XDG_DATA_HOME/psyche (or ~/.local/share/psyche), created; malloc'd or NULL. */
char *psy_settings_data_dir(char *err, size_t errlen);

#endif
