/* toolbox.c - psyche's tool set put together: the workspace handle, the
 * secrets scan, the sandbox, and the registry (tools.c) filled with the file
 * tools (tools_fs.c) and the command tool (tools_exec.c). It sits above those
 * three files, which never call it, so the registry and the tools do not call
 * each other around a loop. */
#include "tools.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void psy_tools_default_config(psy_tools_config *c)
{
    memset(c, 0, sizeof *c);
    c->workspace = "workspace";
    c->bash_timeout_s = 30;
    c->max_output_bytes = 16384;
    c->max_file_size = 1000000;
    c->dangerous_commands = false;
    c->sandbox = true;
    c->allow_network = false;
    c->sandbox_tmp = true;
    c->allow_sensitive = false;
}

int psy_tools_new(const psy_tools_config *cfg, psy_tools **out, char *err, size_t errlen)
{
    *out = NULL;
    psy_tools *t = calloc(1, sizeof *t);
    if (!t) return -ENOMEM;
    t->cfg = *cfg;
    if (t->cfg.bash_timeout_s <= 0) t->cfg.bash_timeout_s = 30;
    if (!t->cfg.max_output_bytes) t->cfg.max_output_bytes = 16384;
    if (!t->cfg.max_file_size) t->cfg.max_file_size = 1000000;
    t->sb.ruleset_fd = -1;
    atomic_init(&t->cancel, false);
    int rc = psy_ws_open(&t->ws, cfg->workspace, true, err, errlen);
    if (rc) {
        free(t);
        return rc;
    }
    t->cfg.workspace = t->ws.root;
    if (psy_secrets_scan(&t->secrets, t->ws.root_fd))
        log_warn("secrets scan of %s did not complete (%s): reads of its files are refused", t->ws.root,
                 t->secrets.why);

    psy_sandbox_config sc;
    psy_sandbox_default_config(&sc);
    sc.workspace = t->ws.root;
    sc.enabled = cfg->sandbox;
    sc.allow_network = cfg->allow_network;
    sc.allow_tmp = cfg->sandbox_tmp;
    sc.extra_write = cfg->extra_write;
    sc.scan_budget = cfg->sandbox_scan_budget;
    sc.secrets = &t->secrets;
    t->cfg.extra_write = NULL; /* not kept: the caller's list may go away */
    psy_sandbox_init(&t->sb, &sc);

    psy__register_fs_tools(t);
    psy__register_exec_tool(t);
    if (t->n < 6) {
        snprintf(err, errlen, "out of memory while registering the tools");
        psy_tools_free(t);
        return -ENOMEM;
    }
    *out = t;
    return 0;
}
