/* paths.h - where Psyche's files live: the one resolver of the XDG base
 * folders for all three programs (psyche, elpis, mnemosyne).
 *
 *   kind     variable          default under $HOME   holds
 *   data     XDG_DATA_HOME     .local/share          memories.db, the agent's workspace
 *   config   XDG_CONFIG_HOME   .config               psyche.toml, elpis.toml, mnemosyne.toml
 *   state    XDG_STATE_HOME    .local/state          logs, the fallback file
 *   cache    XDG_CACHE_HOME    .cache                downloaded models
 *
 * Each folder is <base>/psyche. As the XDG Base Directory specification says,
 * a variable that is unset, empty or not an absolute path is ignored (the
 * default is used). Nothing here creates a folder unless its name says so.
 *
 * Contract: 0 or a negative errno; strings handed out are malloc'd and the
 * caller frees them; on error err says what was wrong and what to do. */
#ifndef PSY_PATHS_H
#define PSY_PATHS_H

#include <stddef.h>

#define PATHS_APP "psyche"            /* the folder name under every base */
#define PATHS_MEMORY_DB "memories.db" /* mnemosyne's default database, in the data folder */

typedef enum { PATHS_DATA, PATHS_CONFIG, PATHS_STATE, PATHS_CACHE } paths_kind;

/* "data", "config", "state", "cache". */
const char *paths_kind_name(paths_kind kind);

/* <base>/psyche for kind. -ENOENT when neither the variable nor $HOME is
 * usable. */
int paths_dir(paths_kind kind, char **out, char *err, size_t errlen);

/* <base>/psyche/name. */
int paths_file(paths_kind kind, const char *name, char **out, char *err, size_t errlen);

/* paths_dir, creating the folder and its parents (mode 0700) if missing. */
int paths_dir_create(paths_kind kind, char **out, char *err, size_t errlen);

/* mnemosyne's default database: <data>/psyche/memories.db. */
int paths_default_db(char **out, char *err, size_t errlen);

/* A copy of path with a leading "~" or "~/" replaced by $HOME; other paths
 * are copied as they are. -ENOENT when path needs $HOME and it is unset. */
int paths_expand_home(const char *path, char **out, char *err, size_t errlen);

#endif
