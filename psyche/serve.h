/* serve.h - `psyche serve`, the OpenAI-compatible HTTP server front-end
 * (serve.c; docs/server.md). main.c hands it the arguments after "serve". */
#ifndef PSY_SERVE_H
#define PSY_SERVE_H

#include <stddef.h>

#include "config.h"

/* argv[0] is "serve". Returns the process exit status: 0 after a clean
 * stop, 1 on a start-up failure, 2 on a usage or configuration error. */
int psy_serve_main(int argc, char **argv);

/* The [server] settings (psyche serve's section of psyche.toml), appended to
 * psyche's own table by settings.c so that one psyche.toml serves the
 * terminal UI and the server (the UI loads and checks them, and ignores
 * them). *out points to a static table; returns its length. */
#define PSY_SERVE_SETTINGS_MAX 24
size_t psy_serve_settings(const cfg_key **out);

#endif
