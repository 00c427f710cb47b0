/* model_config.h - writing the downloaded model's path into the user's
 * config ([model] path in psyche.toml) without breaking the file: only that
 * one key changes; every other line, comment and blank line is kept. Used by
 * `psyche model pull` and read by `psyche model list`.
 *
 * Contract: 0 or a negative errno; on error err says what was wrong and
 * what to do; strings handed out are malloc'd and the caller frees them. */
#ifndef PSY_MODEL_CONFIG_H
#define PSY_MODEL_CONFIG_H

#include <stddef.h>

/* The config text text[0..len) (name: for messages) with [model] path set to
 * value: the key's line is replaced when it exists, otherwise the key goes
 * right after the [model] header, otherwise a [model] section is appended.
 * The input must parse (a broken config is refused, -EINVAL, never
 * rewritten); the result is parsed again and checked before it is handed
 * out in *out (NUL-terminated). */
int psy_model_config_set_path(const char *text, size_t len, const char *name, const char *value, char **out, char *err,
                              size_t errlen);

/* [model] path of the config text, or NULL in *out when it has none. */
int psy_model_config_get_path(const char *text, size_t len, const char *name, char **out, char *err, size_t errlen);

/* psy_model_config_set_path on the file at path (created with its folder,
 * mode 0600, when absent), replaced atomically. */
int psy_model_config_write(const char *path, const char *value, char *err, size_t errlen);

#endif
