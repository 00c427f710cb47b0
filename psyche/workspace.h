/* workspace.h - path confinement for the tools, and the sensitive-path check.
 *
 * Every path a tool touches goes through psy_ws_resolve(): relative paths are
 * taken from the workspace root, symlinks are followed (realpath of the
 * longest existing prefix; the part that does not exist yet is appended
 * after checking it has no "..") and the result must be the root or lie
 * beneath it. That check gives the messages; the opening itself is made by
 * psy_ws_openat() relative to a handle on the root with openat2
 * (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), or, on a kernel without
 * openat2, by a component-by-component walk with O_NOFOLLOW. So a folder
 * swapped for a symlink between the check and the open (a race by another
 * process) makes the open fail; it never reaches outside the workspace.
 *
 * No globals; a psy_workspace is read-only after psy_ws_open, so it can be
 * shared between threads. */
#ifndef PSY_WORKSPACE_H
#define PSY_WORKSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct psy_workspace {
    char *root; /* realpath of the workspace, no trailing slash (except "/"); owned */
    size_t root_len;
    int root_fd;     /* O_PATH | O_DIRECTORY handle on root (owned), -1 when closed */
    bool no_openat2; /* use the O_NOFOLLOW walk: the kernel lacks openat2, or PSYCHE_NO_OPENAT2=1 (tests) */
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

/* Opens rel (relative to the root; "." is the root; no ".." component is
 * accepted by the fallback walk) with open(2) flags and mode, never leaving
 * the workspace: symlinks are followed only while they stay beneath the root
 * (openat2), or not at all (the fallback). O_CLOEXEC is always added.
 * Returns 0 with *fd set (caller closes), or -errno: -EXDEV / -ELOOP when
 * the path would leave the workspace or goes through a symlink it may not
 * follow, -ENOENT, -ENOTDIR, ... */
int psy_ws_openat(const psy_workspace *ws, const char *rel, int flags, mode_t mode, int *fd);

/* Creates the directory rel and its missing parents (mode 0755) beneath the
 * root, one component at a time with mkdirat + O_NOFOLLOW opens, so a
 * symlink swapped in makes it fail. Returns 0 or -errno. */
int psy_ws_mkdirs(const psy_workspace *ws, const char *rel);

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
