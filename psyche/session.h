/* session.h - the edges of a session: the slash commands that need the
 * agent (/status, /emotion, /memory, /clear, /thinking) and the shutdown
 * path (summary, staged messages, consolidation, stopping the children).
 *
 * An activity: calls the layers below and thoughts.h (consolidation), never
 * the agent loop. Agent thread only. */
#ifndef PSY_SESSION_H
#define PSY_SESSION_H

#include "conv.h"
#include "env.h"

/* Runs a command line accepted by psy_agent_command on conversation c. */
void psy_run_command(psy_env *e, psy_conv *c, const char *line);
/* Summary (when [shutdown] summary and quit_summary are on), staged
 * messages, consolidation, children stopped. A second quit request cuts it
 * short. */
void psy_shutdown(psy_env *e, psy_conv *c);
/* Grace for a child's start at shutdown, so the summary can reach it. */
#define PSY_SHUTDOWN_SETTLE_MS 5000
/* How long children get to stop when the user asked to stop now. */
#define PSY_STOP_NOW_GRACE_MS 200

#endif
