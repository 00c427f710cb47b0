/* serve.h - `psyche serve`, the OpenAI-compatible HTTP server front-end
 * (serve.c; docs/server.md). main.c hands it the arguments after "serve". */
#ifndef PSY_SERVE_H
#define PSY_SERVE_H

/* argv[0] is "serve". Returns the process exit status: 0 after a clean
 * stop, 1 on a start-up failure, 2 on a usage or configuration error. */
int psy_serve_main(int argc, char **argv);

#endif
