/* cli.h - the subcommands people run by hand: stats, export, import,
 * edit, search, restore, delete, unlink, forget (consolidate is in main.c). Each prints to `out` (stdout in the
 * program) and returns 0 or a negative errno with a message in err. */
#ifndef MEM_CLI_H
#define MEM_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "store.h"

int mem_cli_stats(mem_store *s, FILE *out, char *err, size_t errlen);
/* One JSON object per line, every field, every status (archived included). */
int mem_cli_export(mem_store *s, FILE *out, char *err, size_t errlen);
/* Reads JSONL (as written by export); a bad line imports nothing. Records
 * keep their trust only with opts->keep_trust, otherwise they become
 * low-trust. With opts->replace a line whose id is present replaces that
 * memory: its keys over the stored record, so it may give only what changes. */
int mem_cli_import(mem_store *s, const char *file, const mem_import_opts *opts, FILE *out, char *err, size_t errlen);
/* Edits one memory (mem_store_edit) and prints it as export would. */
int mem_cli_edit(mem_store *s, const char *id, const mem_edit *e, FILE *out, char *err, size_t errlen);
/* Prints results, best first (json: one object per line); n may be
 * MEM_N_RESULTS_DEFAULT. Does not count as an access: looking at memories
 * is not the agent recalling them. */
int mem_cli_search(mem_store *s, const char *query, int n, unsigned status_mask, bool json, FILE *out, char *err,
                   size_t errlen);

/* Prints "restored ID to short-term"; -ENOENT, -EINVAL when not archived. */
int mem_cli_restore(mem_store *s, const char *id, FILE *out, char *err, size_t errlen);
/* Archives the memory (restorable), or with purge deletes it for good; an
 * unknown id is -ENOENT. */
int mem_cli_delete(mem_store *s, const char *id, bool purge, FILE *out, char *err, size_t errlen);
/* Removes the knowledge-update link id is part of (mem_store_unlink). */
int mem_cli_unlink(mem_store *s, const char *id, FILE *out, char *err, size_t errlen);
/* Deletes every memory for good. Without yes it asks on in, which must be a
 * terminal, for the word "forget"; anything else changes nothing
 * (-ECANCELED). */
int mem_cli_forget(mem_store *s, bool yes, FILE *in, FILE *out, char *err, size_t errlen);

#endif
