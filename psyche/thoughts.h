/* thoughts.h - what psyche does while the user is quiet: private
 * reflections (with a few read-only tool calls), dreams over surfacing
 * memories, and the consolidation check after them.
 *
 * An activity: calls the layers below (generate, memflow, toolglue, links,
 * bus, idle, prompt) and nothing above. Agent thread only; every step stops
 * at once when the user types. */
#ifndef PSY_THOUGHTS_H
#define PSY_THOUGHTS_H

#include "conv.h"
#include "env.h"

/* A reflection over conversation c (read, never changed). */
void psy_think(psy_env *e, const psy_conv *c);
void psy_dream(psy_env *e);
/* Runs should_consolidate and, when recommended, consolidate_memories.
 * why: "idle", "dream" (rate-limited by the idle scheduler) or "shutdown". */
void psy_maybe_consolidate(psy_env *e, const char *why);

#endif
