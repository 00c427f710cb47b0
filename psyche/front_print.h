/* front_print.h - psyche's line front-ends for scripts and pipes: -p (one
 * turn), --repl (one message per input line) and --events (JSON lines).
 * Talks to the agent only through agent.h. Also the process exit statuses,
 * which main.c and these front-ends share (documented in docs/psyche.md). */
#ifndef PSY_FRONT_PRINT_H
#define PSY_FRONT_PRINT_H

#include <stdbool.h>
#include <stdio.h>

#include "agent.h"

/* psyche's exit statuses, for scripts. */
enum {
    PSY_EXIT_OK = 0,       /* every message answered */
    PSY_EXIT_FAILED = 1,   /* a turn failed or was interrupted (-p), or a runtime error */
    PSY_EXIT_USAGE = 2,    /* a bad flag, config file or setting */
    PSY_EXIT_NO_MODEL = 3, /* no model configured, or the model file is missing or unreadable */
    PSY_EXIT_CHILDREN = 4, /* elpis could not be started (for another reason than the model) */
};

typedef struct psy_front_opts {
    const char *message; /* -p: the one message (NULL: read lines from stdin) */
    bool events;         /* --events: one JSON object per event on stdout */
    bool raw;            /* --raw: no cleaning of terminal control sequences */
    const char *where;   /* lines saying where memories, logs and config live, added to /status (may be NULL) */
} psy_front_opts;

/* Runs the line front-end on a started agent until PSY_EV_QUIT. With --repl
 * (and -p) messages are answered one after the other, in input order; with
 * --events input goes to the agent as it arrives, so a message abandons the
 * running turn as in the TUI. End of input or /quit ends the session once
 * every earlier message is answered (start-up is never cut short). Returns
 * a PSY_EXIT_* status. The caller still frees the agent. */
int psy_front_lines(psy_agent *a, const psy_front_opts *o);

/* Writes text to f with terminal control sequences removed (unless raw),
 * then the suffix (may be NULL). For error messages and notices. */
void psy_front_put(FILE *f, const char *text, const char *suffix, bool raw);

#endif
