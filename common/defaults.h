/* defaults.h - first-run seeding of the user's config folder from the default
 * configs an installation ships.
 *
 * `make install` and the .deb put <program>.toml under <prefix>/share/psyche/.
 * On a program's first run, defaults_seed copies that file to
 * $XDG_CONFIG_HOME/psyche/<program>.toml (~/.config/psyche/...) when no file
 * of that name exists there, so the user has a commented file to edit. An
 * existing file is never overwritten, not even by two programs starting at
 * once: the copy is written to a temporary name and linked into place, which
 * fails rather than replaces. Run from the source tree (no share/psyche next
 * to the binary), it does nothing.
 *
 * Contract: 0 or a negative errno; err says what was wrong and what to do. */
#ifndef PSY_DEFAULTS_H
#define PSY_DEFAULTS_H

#include <stdbool.h>
#include <stddef.h>

/* The shipped defaults next to this executable: <bindir>/../share/psyche.
 * *out is malloc'd (caller frees). */
int defaults_share_dir(char **out, char *err, size_t errlen);

/* Copies <share_dir>/<program>.toml to the user's config folder if absent.
 * share_dir NULL: defaults_share_dir(). *seeded (optional) tells whether a
 * file was written. No shipped file, or a file already in place: 0. */
int defaults_seed(const char *program, const char *share_dir, bool *seeded, char *err, size_t errlen);

#endif
