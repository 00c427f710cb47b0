/* toolhost.c - psyche's tool boundary on stdin/stdout, for tests/security.
 *
 * Usage: toolhost <workspace>. Each input line is one JSON object:
 *   {"tool": "<name>", "args": {...}}  -> one line: the tool call's wrapper
 *   {"report": true}                   -> one line: psy_sandbox_report()
 *   {"rescan": true}                   -> rescans the workspace's secrets
 * The tools run with the default configuration (sandbox on, no network,
 * the blocklist on) except a 10 s command timeout. The attacks themselves
 * are written in the Python files beside it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "../../psyche/tools.h"

static void answer(cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    printf("%s\n", s ? s : "{\"error\":\"out of memory\"}");
    fflush(stdout);
    free(s);
    cJSON_Delete(o);
}

static void handle(psy_tools *t, const char *line)
{
    cJSON *req = cJSON_Parse(line);
    if (!cJSON_IsObject(req)) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "error", "each line must be one JSON object");
        answer(e);
    } else if (cJSON_IsTrue(cJSON_GetObjectItem(req, "report"))) {
        answer(psy_sandbox_report(psy_tools_get_sandbox(t)));
    } else if (cJSON_IsTrue(cJSON_GetObjectItem(req, "rescan"))) {
        psy_secrets_scan(&t->secrets, t->ws.root_fd);
        answer(cJSON_CreateObject());
    } else {
        const cJSON *name = cJSON_GetObjectItem(req, "tool");
        answer(psy_tools_call(t, cJSON_IsString(name) ? name->valuestring : "", cJSON_GetObjectItem(req, "args"),
                              NULL, 0));
    }
    cJSON_Delete(req);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: toolhost <workspace>\n");
        return 2;
    }
    log_init("toolhost", LOG_WARN, NULL);
    psy_tools_config cfg;
    psy_tools_default_config(&cfg);
    cfg.workspace = argv[1];
    cfg.bash_timeout_s = 10;
    psy_tools *t;
    char err[512];
    if (psy_tools_new(&cfg, &t, err, sizeof err)) {
        fprintf(stderr, "toolhost: %s\n", err);
        return 1;
    }
    printf("{\"ready\":true}\n");
    fflush(stdout);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) handle(t, line);
    free(line);
    psy_tools_free(t);
    return 0;
}
