/* server.h - elpis's MCP face: the tools and resources over the engine and
 * the emotional state. */
#ifndef ELPIS_SERVER_H
#define ELPIS_SERVER_H

#include <pthread.h>

#include "emotion.h"
#include "engine.h"
#include "mcp.h"
#include "settings.h"

typedef struct gen_call gen_call;

typedef struct elpis {
    engine *eng;
    const elpis_settings *cfg;
    mcp_server *srv;
    pthread_mutex_t emo_mu; /* guards emo */
    emotion emo;
    pthread_mutex_t st_mu; /* guards the stream table */
    gen_call *streams;
    int n_streams;
} elpis;

/* Sets up the state and the MCP server (not yet running). */
int elpis_server_init(elpis *app, engine *eng, const elpis_settings *cfg);
/* Runs the protocol loop on fds until EOF or a stop. */
int elpis_server_run(elpis *app, int in_fd, int out_fd);
/* After the engine has been closed (so no job is running). */
void elpis_server_free(elpis *app);

#endif
