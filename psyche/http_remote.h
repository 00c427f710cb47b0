/* http_remote.h - Hermes: `psyche --connect URL`, psyche's line front-ends
 * (-p, --repl) against a `psyche serve` over its OpenAI-compatible API, with
 * the file and shell tools run locally in the client's workspace. */
#ifndef PSY_HTTP_REMOTE_H
#define PSY_HTTP_REMOTE_H

#include <stdbool.h>

/* True when argv asks for a remote session (has --connect). */
bool psy_remote_wanted(int argc, char **argv);

/* The whole client: parses argv, checks the server's /health, runs one turn
 * (-p) or one per input line (--repl). Returns the process exit status:
 * 0 done, 1 a turn failed, 2 usage error, 69 the server is unreachable or
 * not ready, 130 cancelled with Ctrl+C (-p). */
int psy_remote_main(int argc, char **argv);

#endif
