/* main.c - the elpis program: CLI, configuration, lifecycle.
 *
 *   elpis --model PATH [--config FILE] [--ctx N] [--threads N] [--gpu-layers N|auto] [--slots N]
 *   elpis --doctor [--model PATH]   elpis --version   elpis --help
 *
 * stdout carries only MCP messages; everything else goes to stderr or the
 * log file. Startup order: config, flags and logging (common/startup.h),
 * signals, engine (loads the model on its own thread), then the protocol loop
 * until EOF or SIGTERM/SIGINT. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash.h"
#include "doctor.h"
#include "log.h"
#include "server.h"
#include "startup.h"
#include "util.h"
#include "version.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: elpis --model PATH [--config FILE] [--ctx N] [--threads N] [--gpu-layers N|auto] [--slots N]\n"
               "       elpis --doctor [--model PATH] [--config FILE]\n"
               "       elpis --print-config [--config FILE]\n"
               "       elpis --version | --help\n"
               "\n"
               "An MCP server (JSON-RPC over stdio) for local LLM inference on llama.cpp whose sampling\n"
               "follows a valence-arousal emotional state. Settings: --config FILE, else $ELPIS_CONFIG, else\n"
               "$XDG_CONFIG_HOME/psyche/elpis.toml, else /etc/psyche/elpis.toml (never the current folder);\n"
               "then the environment ELPIS_<SECTION>_<KEY> (e.g. ELPIS_MODEL_PATH), then these flags.\n"
               "See docs/configuration.md.\n");
}

static void stop_server(void *ud)
{
    elpis *app = ud;
    if (app->srv) mcp_server_stop(app->srv);
}

/* elpis's own argument beyond startup's: --doctor (ud: the bool it sets). */
static int own_arg(void *ud, int argc, char **argv, int *i)
{
    (void)argc;
    if (strcmp(argv[*i], "--doctor")) return -ENOENT;
    *(bool *)ud = true;
    return 0;
}

/* [model] gpu_layers: "auto", -1 (all) or a number of layers. 0, or -EINVAL
 * after saying on stderr what was wrong. */
static int parse_gpu_layers(const char *s, int *out)
{
    if (!strcmp(s, "auto")) {
        *out = ENGINE_GPU_LAYERS_AUTO;
        return 0;
    }
    int v;
    if (parse_int(s, -1, 100000, &v)) {
        fprintf(stderr, "elpis: [model] gpu_layers: expected a number of layers, -1 (all) or auto, got \"%s\"\n", s);
        return -EINVAL;
    }
    *out = v == -1 ? ENGINE_GPU_LAYERS_ALL : v;
    return 0;
}

/* The engine's parameters from the settings. 0 or -EINVAL (reported). */
static int engine_params_from(const elpis_settings *cfg, engine_params *ep)
{
    engine_default_params(ep);
    ep->model_path = cfg->model_path;
    ep->backend = cfg->backend;
    ep->rpc_servers = cfg->rpc_servers.items;
    ep->n_rpc_servers = cfg->rpc_servers.n;
    ep->base_url = cfg->base_url;
    ep->api_key_file = cfg->api_key_file;
    ep->upstream_model = cfg->upstream_model;
    ep->timeout_s = cfg->timeout_seconds;
    ep->retries = cfg->retries;
    ep->n_ctx = cfg->ctx;
    ep->n_threads = cfg->threads;
    ep->n_batch = cfg->batch;
    ep->slots = cfg->slots;
    ep->chat_template = cfg->chat_template;
    ep->seed = (uint32_t)cfg->seed;
    ep->cvec_dir = cfg->emotion_vectors_dir;
    ep->cvec_layer_start = cfg->layer_start;
    ep->cvec_layer_end = cfg->layer_end;
    ep->cvec_max_norm = cfg->max_norm;
    return parse_gpu_layers(cfg->gpu_layers, &ep->n_gpu_layers);
}

/* Loads the model and serves MCP on stdio until EOF or a signal. Returns the exit status. */
static int serve(elpis_settings *cfg, const engine_params *ep)
{
    static elpis app;
    log_info("elpis %s starting (pid %d), llama.cpp %s (%s), config: %s", psy_version(), (int)getpid(),
             LLAMA_CPP_VERSION, psy_build_options(), cfg_sources());
    crash_install("elpis", stop_server, &app);
    engine *eng = NULL;
    char err[1024];
    int rc = engine_open(&eng, ep, err, sizeof err);
    if (rc) {
        log_error("cannot start: %s", err);
        fprintf(stderr, "elpis: %s\n", err);
        return 1;
    }
    if (elpis_server_init(&app, eng, cfg)) {
        log_error("cannot set up the MCP server");
        engine_close(eng);
        return 1;
    }
    /* A SIGTERM that arrived while the model loaded had no server to stop yet. */
    rc = crash_stop_requested() ? 0 : elpis_server_run(&app, 0, 1);
    int sig = crash_stop_signal();
    log_info("shutting down: %s", sig ? strsignal(sig) : rc ? strerror(-rc) : "end of input");
    engine_close(eng); /* cancels queued work; the running job stops within a token */
    elpis_server_free(&app);
    log_info("stopped");
    return 0;
}

int main(int argc, char **argv)
{
    static elpis_settings cfg;
    static const startup_flag flags[] = {
        {"--model", "model.path"},      {"--ctx", "model.ctx"},
        {"--threads", "model.threads"}, {"--gpu-layers", "model.gpu_layers"},
        {"--slots", "model.slots"},
    };
    bool doctor = false;
    startup_params p = {.program = "elpis",
                        .env_prefix = "ELPIS",
                        .flags = flags,
                        .n_flags = sizeof flags / sizeof flags[0],
                        .log_level = &cfg.log_level,
                        .log_file = &cfg.log_file,
                        .usage = usage,
                        .own_arg = own_arg,
                        .ud = &doctor};
    const cfg_key *keys;
    p.n_keys = elpis_settings_table(&cfg, &keys);
    p.keys = keys;
    startup_state st;
    engine_params ep;
    int rc = startup_begin(&p, argc, argv, &st);
    if (rc == -ECANCELED) {
        rc = st.exit_code;
    } else if (engine_params_from(&cfg, &ep)) {
        rc = STARTUP_EXIT_USAGE;
    } else {
        engine_route_llama_log();
        rc = doctor ? (elpis_doctor(&ep, stdout) ? 1 : 0) : serve(&cfg, &ep);
    }
    startup_end(&p, &st);
    return rc;
}
