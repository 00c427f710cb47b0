/* env.h - what the activities (react.c, thoughts.c, session.c) work with:
 * the shared layers below them, each with its own header. The agent (agent.c)
 * owns them all and hands this out; no function lives here. */
#ifndef PSY_ENV_H
#define PSY_ENV_H

#include "bus.h"
#include "idle.h"
#include "links.h"
#include "memflow.h"
#include "settings.h"
#include "toolglue.h"

typedef struct psy_env {
    const psy_settings *cfg;
    psy_bus *bus;
    psy_links *links;
    psy_memflow *mem;
    psy_toolset *tools;
    psy_idle *idle;
    bool idle_on; /* idle thinking enabled */
} psy_env;

#endif
