/* cli.h - the subcommands people run by hand: stats, export, import,
 * search, restore, delete, consolidate. Each prints to `out` (stdout in the
 * program) and returns 0 or a negative errno with a message in err. */
#ifndef MEM_CLI_H
#define MEM_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "store.h"

int mem_cli_stats(mem_store *s, FILE *out, char *err, size_t errlen);
/* One JSON object per line, every field, every status (archived included). */
int mem_cli_export(mem_store *s, FILE *out, char *err, size_t errlen);
/* Reads JSONL (as written by export); all or nothing. Records keep their
 * trust only with keep_trust, otherwise they become low-trust. */
int mem_cli_import(mem_store *s, const char *file, bool keep_trust, FILE *out, char *err, size_t errlen);
/* Prints results, best first (json: one object per line). Does not count as
 * an access: looking at memories is not the agent recalling them. */
int mem_cli_search(mem_store *s, const char *query, int n, unsigned status_mask, bool json, FILE *out, char *err,
                   size_t errlen);

#endif
