/* toolglue.h - the agent's side of the tools: the tool set opened from the
 * settings (tools.h), the memory tools registered on it, running a call with
 * its UI events and a readable one-line description.
 *
 * Layer: above memflow.h (the memory tools call it) and the bus; below the
 * activities. Agent thread only, except psy_toolset_cancel (any thread). */
#ifndef PSY_TOOLGLUE_H
#define PSY_TOOLGLUE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "bus.h"
#include "memflow.h"
#include "tools.h"

/* Room for a readable tool line ("Reading a/b.c (120 lines)"). */
#define PSY_TOOL_LINE_MAX 320

typedef struct psy_toolset {
    psy_tools *tools; /* owned; NULL before open */
    char *workspace;  /* owned: the resolved workspace path */
    psy_bus *bus;     /* not owned */
} psy_toolset;

/* Opens the tool set from the settings; registers the memory tools (on mem)
 * when memory is on. Returns 0, or -errno with a message in err. */
int psy_toolset_open(psy_toolset *ts, const psy_settings *cfg, psy_bus *bus, psy_memflow *mem, char *err,
                     size_t errlen);
void psy_toolset_close(psy_toolset *ts);
/* [{name, description, inputSchema}] of every tool the model may call (caller frees). */
cJSON *psy_toolset_list(const psy_toolset *ts);
/* Sandbox facts for /status: {active, detail} (caller frees). */
cJSON *psy_toolset_sandbox(const psy_toolset *ts);
/* Runs a tool (flags: PSY_TOOL_* of tools.h): returns the wrapper
 * {tool_call_id, success, result, duration_ms} (caller frees) or NULL when
 * there are no tools, after emitting PSY_EV_TOOL_START / PSY_EV_TOOL_END when
 * events is true. line gets the readable summary. */
cJSON *psy_toolset_run(psy_toolset *ts, const char *name, const cJSON *args, unsigned flags, bool events, char *line,
                       size_t linelen);
/* Ends a running command (any thread); psy_toolset_rearm before the next. */
void psy_toolset_cancel(psy_toolset *ts);
void psy_toolset_rearm(psy_toolset *ts);
/* How the last call ended (PSY_TOOL_REFUSED when there are no tools). */
psy_tool_outcome psy_toolset_last_outcome(const psy_toolset *ts);

#endif
