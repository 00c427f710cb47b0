/* front_local.c - the local agent (agent.h) as a psy_front for the TUI:
 * each operation is the psy_agent_* function of the same name. */
#include "front.h"

static int l_fd(void *c) { return psy_agent_fd(c); }
static psy_event *l_next(void *c) { return psy_agent_next_event(c); }
static void l_submit(void *c, const char *text) { psy_agent_submit(c, text); }
static void l_cancel(void *c) { psy_agent_cancel(c); }
static bool l_command(void *c, const char *line) { return psy_agent_command(c, line); }
static void l_quit(void *c) { psy_agent_quit(c); }
static cJSON *l_status(void *c) { return psy_agent_status(c); }
static cJSON *l_emotion(void *c) { return psy_agent_emotion(c); }
static void l_typing(void *c) { psy_agent_typing(c); }

static const psy_front_ops local_ops = {
    .fd = l_fd,
    .next_event = l_next,
    .submit = l_submit,
    .cancel = l_cancel,
    .command = l_command,
    .quit = l_quit,
    .status = l_status,
    .emotion = l_emotion,
    .typing = l_typing,
};

psy_front psy_front_local(psy_agent *a) { return (psy_front){.ops = &local_ops, .ctx = a}; }
