/* startup.h - what every program's main() does before its real work: find
 * the configuration file it may trust, load the layers, read the flags all
 * three share, set up logging. A main becomes: describe the program in a
 * startup_params, call startup_begin, run, startup_end, one return.
 *
 * Config discovery (startup_config_find), first match wins, and never the
 * current folder or the workspace:
 *   1. --config FILE                         (must exist)
 *   2. $<PREFIX>_CONFIG (PSYCHE_CONFIG, ELPIS_CONFIG, MNEMOSYNE_CONFIG; must exist)
 *   3. $XDG_CONFIG_HOME/psyche/<program>.toml (or ~/.config/psyche/...), if present
 *   4. /etc/psyche/<program>.toml, if present
 *   otherwise no file: the built-in defaults, then the environment and flags.
 * psyche passes --config explicitly to the children it starts.
 *
 * Flags handled here for every program: --config FILE, --help/-h, --version,
 * --print-config, --log-level LEVEL, --log-file FILE, plus the program's
 * table of value flags (e.g. --ctx -> model.ctx). Anything else goes to the
 * program's own_arg callback, and is an error when that does not take it.
 *
 * Contract: 0 or a negative errno; err (or stderr, for startup_begin) says
 * what was wrong and what to do. */
#ifndef PSY_STARTUP_H
#define PSY_STARTUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "log.h"

#define STARTUP_SYSTEM_CONFIG_DIR "/etc/psyche"
#define STARTUP_EXIT_USAGE 2 /* exit status for a bad flag or a bad config */

typedef enum {
    STARTUP_CONFIG_NONE,   /* no file: defaults */
    STARTUP_CONFIG_FLAG,   /* --config */
    STARTUP_CONFIG_ENV,    /* $<PREFIX>_CONFIG */
    STARTUP_CONFIG_USER,   /* $XDG_CONFIG_HOME/psyche/<program>.toml */
    STARTUP_CONFIG_SYSTEM, /* /etc/psyche/<program>.toml */
} startup_config_origin;

/* Finds the config file of program ("elpis") whose variables start with
 * env_prefix ("ELPIS"), as listed above. *path is malloc'd (caller frees) or
 * NULL for none; *origin says where it came from. A --config without a value
 * is -EINVAL. Files named by flag or variable are not checked here: cfg_load
 * reports a missing one. */
int startup_config_find(const char *program, const char *env_prefix, int argc, char **argv, char **path,
                        startup_config_origin *origin, char *err, size_t errlen);

/* "--config", "$ELPIS_CONFIG", ... for messages. */
const char *startup_config_origin_name(startup_config_origin origin);

/* Refuses (-EPERM) a config file the agent could have written: one inside
 * workspace (after resolving symlinks in both; workspace may be NULL), one
 * writable by every user, one in a folder every user may write without the
 * sticky bit, or one owned by another user (not root). The message names the
 * file and what to do. -ENOENT etc. when the file cannot be examined. */
int startup_config_trusted(const char *config_path, const char *workspace, char *err, size_t errlen);

/* A value flag of a program: "--ctx" sets the key "model.ctx". */
typedef struct startup_flag {
    const char *flag;
    const char *key;
} startup_flag;

typedef struct startup_params {
    const char *program;    /* "elpis": log lines, <program>.toml */
    const char *env_prefix; /* "ELPIS": ELPIS_CONFIG and ELPIS_<SECTION>_<KEY> */
    const char *version;    /* the --version line; NULL (the programs): psy_version_print's, from version.h */
    const cfg_key *keys;    /* the program's settings table */
    size_t n_keys;
    const startup_flag *flags; /* value flags beyond the common ones */
    size_t n_flags;
    char *const *log_level; /* the [logging] level and file settings the table fills */
    char *const *log_file;
    void (*usage)(FILE *f);
    /* The program's own arguments: 0 when it took argv[*i] (moving *i past a
     * value it consumed), -ENOENT when it does not know it, another negative
     * errno after printing its own message. May be NULL. */
    int (*own_arg)(void *ud, int argc, char **argv, int *i);
    void *ud;
} startup_params;

typedef struct startup_state {
    char *config_path; /* the file loaded (owned), or NULL */
    startup_config_origin origin;
    log_level level;      /* the level logging was set up with */
    bool log_level_given; /* --log-level was on the command line */
    int exit_code;        /* when startup_begin returned -ECANCELED */
} startup_state;

/* Loads the configuration and reads the flags. Returns 0 to go on; or
 * -ECANCELED when main should return st->exit_code now (--help, --version,
 * --print-config: 0; a bad flag or config: STARTUP_EXIT_USAGE, already
 * reported on stderr). Call startup_end in every case. */
int startup_begin(const startup_params *p, int argc, char **argv, startup_state *st);

/* Frees the settings and what startup_begin kept; closes the log. */
void startup_end(const startup_params *p, startup_state *st);

#endif
