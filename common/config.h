/* config.h - layered configuration: defaults < TOML file < environment < flags.
 *
 * A program describes its settings once, as a table of cfg_key, each pointing
 * at the variable it fills. cfg_load() applies the layers in order; a later
 * cfg_set() applies a command-line flag. Every key in the table is documented
 * by its help text, and an unknown key or a bad value in any layer is an error
 * naming where it came from: "configs/elpis.toml:12: [model] ctx: expected an
 * integer in 128..1048576, got \"big\"".
 *
 * Environment names: <PREFIX>_<SECTION>_<KEY>, upper-cased, e.g.
 * ELPIS_MODEL_CTX. Values in the environment and in flags use TOML syntax
 * without the quotes for strings (ELPIS_MODEL_PATH=/m.gguf) and a
 * comma-separated list for string lists (items trimmed, empty ones dropped);
 * booleans there may also be yes/no or 1/0. A variable PREFIX_SECTION_X for
 * a known section but no known key is an error; other PREFIX_* are ignored.
 *
 * Ownership: CFG_STRING destinations are char * that the config layer
 * allocates (malloc) and frees in cfg_free(); CFG_STRLIST fills a cfg_strlist
 * likewise. Callers never free them by hand. */
#ifndef PSY_CONFIG_H
#define PSY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The largest settings file read (a TOML file of a few hundred lines is normal). */
#define CFG_MAX_FILE ((size_t)16 << 20)

typedef enum { CFG_INT, CFG_DOUBLE, CFG_BOOL, CFG_STRING, CFG_STRLIST } cfg_type;

typedef struct cfg_strlist {
    char **items; /* owned by the config layer */
    size_t n;
} cfg_strlist;

typedef struct cfg_key {
    const char *section; /* "model" for [model] */
    const char *key;     /* "ctx" */
    cfg_type type;
    void *dest;       /* int *, double *, bool *, char **, cfg_strlist * */
    const char *def;  /* default, written as in the environment; NULL = "" / 0 / empty */
    double min, max;  /* inclusive range for CFG_INT/CFG_DOUBLE; ignored when min == max */
    const char *help; /* one line for --help and docs/configuration.md */
} cfg_key;

/* Applies defaults, then the file (if file != NULL; a missing file is an error
 * only when file_required), then the environment. Returns 0, or a negative
 * errno with a message in err. On error the destinations hold valid (default
 * or partly loaded) values and cfg_free() is still to be called. The
 * destinations are overwritten, not freed: cfg_free() before loading again. */
int cfg_load(const cfg_key *keys, size_t n, const char *file, bool file_required, const char *env_prefix, char *err,
             size_t errlen);

/* Sets one key from text, as a flag would: name is "section.key".
 * origin names the source for error messages (e.g. "--ctx"). */
int cfg_set(const cfg_key *keys, size_t n, const char *name, const char *value, const char *origin, char *err,
            size_t errlen);

/* Frees every string and list the table points at and clears them. */
void cfg_free(const cfg_key *keys, size_t n);

/* Writes the keys as a TOML document with their current values and help
 * text as comments (used by --print-config and to check the docs).
 * Returns 0, -ENOMEM (nothing written) or -EIO (f failed). */
int cfg_write_toml(const cfg_key *keys, size_t n, FILE *f);

/* Where the last cfg_load found each layer (for the lifecycle log line):
 * e.g. "defaults + configs/elpis.toml + env(ELPIS_MODEL_CTX)", with
 * " (not found)" after an optional file that was missing and
 * " + flags(--ctx)" for later cfg_set calls. Static storage. */
const char *cfg_sources(void);

#endif
