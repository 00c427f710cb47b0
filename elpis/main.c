/* main.c - the elpis program: CLI, configuration, lifecycle.
 *
 *   elpis --model PATH [--config FILE] [--ctx N] [--threads N] [--gpu-layers N|auto]
 *   elpis --doctor [--model PATH]   elpis --version   elpis --help
 *
 * stdout carries only MCP messages; everything else goes to stderr or the
 * log file. Startup order: config, logging, signals, engine (loads the model
 * on its own thread), then the protocol loop until EOF or SIGTERM/SIGINT. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash.h"
#include "doctor.h"
#include "log.h"
#include "server.h"
#include "util.h"
#include "version.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: elpis --model PATH [--config FILE] [--ctx N] [--threads N] [--gpu-layers N|auto]\n"
            "       elpis --doctor [--model PATH] [--config FILE]\n"
            "       elpis --print-config [--config FILE]\n"
            "       elpis --version | --help\n"
            "\n"
            "An MCP server (JSON-RPC over stdio) for local LLM inference on llama.cpp whose sampling\n"
            "follows a valence-arousal emotional state. Settings: configs/elpis.toml, environment\n"
            "ELPIS_<SECTION>_<KEY> (e.g. ELPIS_MODEL_PATH), then these flags. See docs/configuration.md.\n");
}

static void stop_server(void *ud)
{
    elpis *app = ud;
    if (app->srv) mcp_server_stop(app->srv);
}

/* The config file: --config, else ELPIS_CONFIG, else configs/elpis.toml if present. */
static const char *config_path(int argc, char **argv, bool *required)
{
    for (int i = 1; i < argc - 1; i++)
        if (!strcmp(argv[i], "--config")) {
            *required = true;
            return argv[i + 1];
        }
    const char *env = getenv("ELPIS_CONFIG");
    if (env && *env) {
        *required = true;
        return env;
    }
    *required = false;
    return "configs/elpis.toml";
}

int main(int argc, char **argv)
{
    static elpis app;
    elpis_settings cfg;
    memset(&cfg, 0, sizeof cfg);
    const cfg_key *keys;
    size_t nkeys = elpis_settings_table(&cfg, &keys);
    char err[1024];
    bool doctor = false, print_config = false, required;
    const char *file = config_path(argc, argv, &required);
    log_init("elpis", LOG_INFO, NULL);

    int rc = cfg_load(keys, nkeys, file, required, "ELPIS", err, sizeof err);
    if (rc) {
        fprintf(stderr, "elpis: %s\n", err);
        cfg_free(keys, nkeys);
        return 2;
    }
    static const struct { const char *flag, *key; } flags[] = {
        {"--model", "model.path"}, {"--ctx", "model.ctx"}, {"--threads", "model.threads"},
        {"--gpu-layers", "model.gpu_layers"}, {"--log-level", "logging.level"}, {"--log-file", "logging.file"},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            cfg_free(keys, nkeys);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            rc = psy_version_print(stdout, "elpis");
            cfg_free(keys, nkeys);
            return rc ? 1 : 0;
        }
        if (!strcmp(a, "--doctor")) {
            doctor = true;
            continue;
        }
        if (!strcmp(a, "--print-config")) {
            print_config = true;
            continue;
        }
        if (!strcmp(a, "--config")) {
            i++;
            continue;
        }
        size_t f;
        for (f = 0; f < sizeof flags / sizeof flags[0]; f++)
            if (!strcmp(a, flags[f].flag)) break;
        if (f == sizeof flags / sizeof flags[0] || i + 1 >= argc) {
            fprintf(stderr, "elpis: %s '%s'\n", f == sizeof flags / sizeof flags[0] ? "unknown option" : "missing value for", a);
            usage(stderr);
            cfg_free(keys, nkeys);
            return 2;
        }
        if (cfg_set(keys, nkeys, flags[f].key, argv[++i], a, err, sizeof err)) {
            fprintf(stderr, "elpis: %s\n", err);
            cfg_free(keys, nkeys);
            return 2;
        }
    }
    if (print_config) {
        cfg_write_toml(keys, nkeys, stdout);
        cfg_free(keys, nkeys);
        return 0;
    }

    log_level lv = LOG_INFO;
    if (log_level_parse(cfg.log_level, &lv)) {
        fprintf(stderr, "elpis: [logging] level: expected debug, info, warn or error, got \"%s\"\n", cfg.log_level);
        cfg_free(keys, nkeys);
        return 2;
    }
    if (log_init("elpis", lv, cfg.log_file) < 0)
        fprintf(stderr, "elpis: cannot open log file %s: %s; logging to stderr\n", cfg.log_file, strerror(errno));

    engine_params ep;
    engine_default_params(&ep);
    ep.model_path = cfg.model_path;
    ep.backend = cfg.backend;
    ep.rpc_servers = cfg.rpc_servers.items;
    ep.n_rpc_servers = cfg.rpc_servers.n;
    ep.base_url = cfg.base_url;
    ep.api_key_file = cfg.api_key_file;
    ep.upstream_model = cfg.upstream_model;
    ep.timeout_s = cfg.timeout_seconds;
    ep.retries = cfg.retries;
    ep.n_ctx = cfg.ctx;
    ep.n_threads = cfg.threads;
    ep.n_batch = cfg.batch;
    ep.slots = cfg.slots;
    ep.chat_template = cfg.chat_template;
    ep.seed = (uint32_t)cfg.seed;
    ep.cvec_dir = cfg.emotion_vectors_dir;
    ep.cvec_layer_start = cfg.layer_start;
    ep.cvec_layer_end = cfg.layer_end;
    ep.cvec_max_norm = cfg.max_norm;
    if (!strcmp(cfg.gpu_layers, "auto")) {
        ep.n_gpu_layers = -1;
    } else {
        char *end;
        long v = strtol(cfg.gpu_layers, &end, 10);
        if (*end || end == cfg.gpu_layers || v < -1 || v > 100000) {
            fprintf(stderr, "elpis: [model] gpu_layers: expected a number of layers, -1 (all) or auto, got \"%s\"\n",
                    cfg.gpu_layers);
            cfg_free(keys, nkeys);
            return 2;
        }
        ep.n_gpu_layers = v == -1 ? 1000000 : (int)v;
    }

    engine_route_llama_log();
    if (doctor) {
        rc = elpis_doctor(&ep, stdout);
        cfg_free(keys, nkeys);
        return rc ? 1 : 0;
    }

    log_info("elpis %s starting (pid %d), llama.cpp %s (%s), config: %s", psy_version(), (int)getpid(),
             LLAMA_CPP_VERSION, psy_build_options(), cfg_sources());
    crash_install("elpis", stop_server, &app);

    engine *eng = NULL;
    rc = engine_open(&eng, &ep, err, sizeof err);
    if (rc) {
        log_error("cannot start: %s", err);
        fprintf(stderr, "elpis: %s\n", err);
        cfg_free(keys, nkeys);
        return 1;
    }
    if (elpis_server_init(&app, eng, &cfg)) {
        log_error("cannot set up the MCP server");
        engine_close(eng);
        cfg_free(keys, nkeys);
        return 1;
    }
    /* A SIGTERM that arrived while the model loaded had no server to stop yet. */
    rc = crash_stop_requested() ? 0 : elpis_server_run(&app, 0, 1);
    int sig = crash_stop_signal();
    log_info("shutting down: %s", sig ? strsignal(sig) : rc ? strerror(-rc) : "end of input");
    engine_close(eng); /* cancels queued work; the running job stops within a token */
    elpis_server_free(&app);
    cfg_free(keys, nkeys);
    log_info("stopped");
    log_close();
    return 0;
}
