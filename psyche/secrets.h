/* secrets.h - protected files of the workspace, known by identity.
 *
 * A file or folder of the workspace is protected when its name looks like a
 * secret (psy_path_sensitive: .env, *.key, .ssh, ...), when it lies inside a
 * protected folder, or when its device+inode was protected at an earlier
 * scan. The set of identities only grows, so `mv .env plain.txt` or
 * `ln key.pem copy` leaves the secret protected under its new name: the file
 * tools check the opened handle's fstat against it, the sandbox hides every
 * current name of it.
 *
 * The scan has no entry budget: it never gives up part way and grants the
 * rest (20,001 files are scanned like 10). When it cannot finish (a folder
 * deeper than PSY_SECRETS_MAX_DEPTH, out of memory) it says so in `why` and
 * `complete` is false; callers then refuse what they cannot check (fail
 * closed). Owned by the tools (one per psy_tools); not thread-safe. */
#ifndef PSY_SECRETS_H
#define PSY_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#define PSY_SECRETS_MAX_DEPTH 128

typedef struct psy_secret_id {
    dev_t dev;
    ino_t ino;
} psy_secret_id;

typedef struct psy_secrets {
    psy_secret_id *ids; /* protected identities (owned), only grows */
    size_t n_ids, cap_ids;
    char **paths;      /* paths (relative to the root) of protected entries at the last scan (owned) */
    bool *path_is_dir; /* parallel to paths */
    size_t n_paths, cap_paths;
    bool complete;  /* the last scan looked at every entry */
    char why[256];  /* when not complete: what stopped it */
    size_t scanned; /* entries looked at by the last scan */
} psy_secrets;

/* Scans the tree under root_fd (a directory handle; not closed), adding what
 * it finds to s and replacing s->paths. Returns 0, or -errno when the scan
 * could not finish (s->complete is false and s->why says why). */
int psy_secrets_scan(psy_secrets *s, int root_fd);
/* True when st (from fstat of an opened handle) is a protected identity. */
bool psy_secrets_has(const psy_secrets *s, const struct stat *st);
/* Adds one identity (e.g. a file the tools refused by name). Returns 0 or -ENOMEM. */
int psy_secrets_add(psy_secrets *s, const struct stat *st);
void psy_secrets_free(psy_secrets *s);

#endif
