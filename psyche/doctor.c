/* doctor.c - `psyche --doctor`; see doctor.h. */
#include "doctor.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "tools.h"

static int print_report(const cJSON *rep, FILE *out)
{
    const cJSON *mode = cJSON_GetObjectItem(rep, "mode");
    fprintf(out, "sandbox mode: %s (%s)\n", cJSON_IsString(mode) ? mode->valuestring : "?",
            cJSON_IsTrue(cJSON_GetObjectItem(rep, "active")) ? "files confined" : "files NOT confined");
    int off = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(rep, "protections"))
    {
        bool on = cJSON_IsTrue(cJSON_GetObjectItem(p, "on"));
        const cJSON *why = cJSON_GetObjectItem(p, "why");
        fprintf(out, "  %-20s %-3s  %s\n", p->string, on ? "on" : "OFF", cJSON_IsString(why) ? why->valuestring : "");
        off += !on;
    }
    return off;
}

int psy_doctor_run(const psy_settings *cfg, FILE *out)
{
    psy_tools_config tc;
    psy_tools_default_config(&tc);
    char cwd[PATH_MAX];
    tc.workspace = cfg->workspace && *cfg->workspace ? cfg->workspace : getcwd(cwd, sizeof cwd);
    if (!tc.workspace) {
        fprintf(stderr, "psyche: cannot determine the current directory for the workspace: %s\n", strerror(errno));
        return 2;
    }
    tc.sandbox = cfg->sandbox;
    tc.allow_network = cfg->allow_network;
    tc.sandbox_tmp = cfg->sandbox_tmp;
    psy_tools *t = NULL;
    char err[512];
    if (psy_tools_new(&tc, &t, err, sizeof err)) {
        fprintf(stderr, "psyche: %s\n", err);
        return 2;
    }
    fprintf(out, "workspace: %s\n", psy_tools_get_workspace(t)->root);
    fprintf(out, "file tools: opened beneath the workspace with %s\n",
            psy_tools_get_workspace(t)->no_openat2 ? "an O_NOFOLLOW walk (no openat2)"
                                                   : "openat2 (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)");
    const psy_secrets *s = &t->secrets;
    if (s->complete) fprintf(out, "secrets scan: %zu entries, %zu protected\n", s->scanned, s->n_paths);
    else fprintf(out, "secrets scan: INCOMPLETE (%s): reads are refused\n", s->why);
    cJSON *rep = psy_sandbox_report(psy_tools_get_sandbox(t));
    int off = rep ? print_report(rep, out) : 1;
    cJSON_Delete(rep);
    bool complete = s->complete; /* s lives in t */
    psy_tools_free(t);
    if (off) fprintf(out, "%d protection(s) off: see docs/security.md\n", off);
    return off || !complete ? 1 : 0;
}
