/* front_child.h - what a front-end says when a child cannot start: the cause
 * from the child's own log ("no model: pass --model PATH ..."), not the
 * handshake's "initialize: the server exited". Shared by the TUI
 * (tui_events.c) and the line modes (front_print.c); pure (cJSON only). */
#ifndef PSY_FRONT_CHILD_H
#define PSY_FRONT_CHILD_H

#include <stdbool.h>

#include <cjson/cJSON.h>

/* From a PSY_EV_CHILD event's data: the cause in one line in *out (caller
 * frees): the text after the last "cannot start: " in data.log_tail, else
 * data.detail, else "unknown cause". *no_model: the cause is a missing or
 * unreadable model. Returns 0 or -ENOMEM (*out NULL). */
int psy_front_child_cause(const cJSON *data, char **out, bool *no_model);

#endif
