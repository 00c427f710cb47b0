/* tools.h - the MCP face of mnemosyne: the server named "mnemosyne" and its
 * tools: the original's eight (store_memory, search_memories,
 * get_memory_stats, consolidate_memories, should_consolidate,
 * get_memory_context, delete_memory, get_recent_memories) with its argument
 * and result keys so existing clients work, and restore_memory (undo an
 * archiving).
 *
 * Every handler runs on the protocol thread and replies before returning;
 * it is the only thread that touches the store (and so llama_*). */
#ifndef MEM_TOOLS_H
#define MEM_TOOLS_H

#include "mcp.h"
#include "settings.h"
#include "store.h"

typedef struct mem_server {
    mem_store *store;
    const mem_settings *cfg;
    mcp_server *srv;
} mem_server;

int mem_server_init(mem_server *app, mem_store *store, const mem_settings *cfg);
int mem_server_run(mem_server *app, int in_fd, int out_fd);
void mem_server_free(mem_server *app);

/* The report of a consolidation as the tool returns it (also used by the CLI). */
cJSON *mem_report_to_json(const mem_consolidation_report *r);
/* get_memory_stats's object (also `mnemosyne stats`). */
cJSON *mem_stats_to_json(const mem_stats *st, const char *path);

#endif
