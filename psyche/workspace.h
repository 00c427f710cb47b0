/* workspace.h - path confinement for the tools, and the sensitive-path check.
 *
 * Every path a tool touches goes through psy_ws_resolve(): relative paths are
 * taken from the workspace root, symlinks are followed (realpath of the
 * longest existing prefix; the part that does not exist yet is appended
 * after checking it has no "..") and the result must be the root or lie
 * beneath it. The check happens before the file is opened, so a symlink
 * swapped in between (a race by another local process) is not covered;
 * the writers also open with O_NOFOLLOW / O_EXCL where they can.
 *
 * No globals; a psy_workspace is read-only after psy_ws_open, so it can be
 * shared between threads. */
#ifndef PSY_WORKSPACE_H
#define PSY_WORKSPACE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct psy_workspace {
    char *root; /* realpath of the workspace, no trailing slash (except "/"); owned */
    size_t root_len;
} psy_workspace;

/* Resolves dir (created with its parents, mode 0755, when missing and create
 * is true) and fills ws. Returns 0, -ENOENT / -ENOTDIR / other -errno, with a
 * message in err. */
int psy_ws_open(psy_workspace *ws, const char *dir, bool create, char *err, size_t errlen);
void psy_ws_close(psy_workspace *ws);

/* Resolves path[0..len) (len, not strlen, so an embedded NUL is seen) to an
 * absolute, symlink-free path inside the workspace; *out is malloc'd (caller
 * frees) and set only on success. Returns
 *   0;
 *   -EINVAL  empty or whitespace-only path, or a NUL byte in it;
 *   -EACCES  outside the workspace: "Path '<p>' is outside workspace '<ws>'";
 *   -ELOOP   a dangling symlink or ".." after a part that does not exist;
 *   -ENAMETOOLONG, -ENOMEM, or the -errno of a lookup that failed otherwise.
 * err gets a message for the model in every failure case. */
int psy_ws_resolve(const psy_workspace *ws, const char *path, size_t len, char **out, char *err, size_t errlen);

/* abs (a result of psy_ws_resolve) relative to the root: "." for the root
 * itself, otherwise a pointer into abs after "<root>/". */
const char *psy_ws_rel(const psy_workspace *ws, const char *abs);

/* True when a path names something that usually holds secrets: a component
 * .ssh .gnupg .gpg .aws .azure .gcloud .kube .docker .netrc .npmrc .pypirc
 * .pgpass .git-credentials .env / .env.* , the pair .config/gh, a file named
 * id_rsa* id_dsa* id_ecdsa* id_ed25519*, ending in .pem .key .p12 .pfx .gpg
 * .keystore .jks, or whose name (before its first dot) is credentials,
 * secrets or tokens (case-insensitive). Component-based, so count_tokens.c
 * or keyboard.key.c are not caught while secrets.yaml is.
 * what (may be NULL) receives the rule that matched (static string). */
bool psy_path_sensitive(const char *path, const char **what);

/* True for a name that psy_path_sensitive would refuse as one component
 * (used by the sandbox to leave such entries of a home directory unreadable). */
bool psy_name_sensitive(const char *name);

#endif
