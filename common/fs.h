/* fs.h - the file-system helpers every program needs: make a folder with its
 * parents, replace a file atomically, read the end of a log.
 *
 * Contract: each function returns 0 or a negative errno; out-parameters are
 * set only on success. Paths are ordinary NUL-terminated strings of any
 * length (no PATH_MAX buffers). */
#ifndef PSY_FS_H
#define PSY_FS_H

#include <stddef.h>
#include <sys/types.h>

#define FS_DIR_MODE_PRIVATE 0700 /* our own data, state and config folders */
#define FS_FILE_MODE_PRIVATE 0600

/* Creates the folder path and any missing parents with mode (folders that
 * exist are left as they are). -ENOTDIR when a component is not a folder,
 * -EINVAL for an empty path. */
int fs_mkdir_p(const char *path, mode_t mode);

/* fs_mkdir_p of the folder that holds file_path ("a/b/c.db" -> "a/b"); 0
 * when the path has no folder part. */
int fs_mkdir_parent(const char *file_path, mode_t mode);

/* Replaces path with data[0..n) so that a reader (or a crash) sees either the
 * old or the new content, never a mix: writes a temporary file in the same
 * folder, fsyncs it, gives it mode, renames it over path, then fsyncs the
 * folder. On failure path is unchanged and the temporary file is removed.
 * path itself is replaced, not followed when it is a symlink. */
int fs_write_file_atomic(const char *path, const void *data, size_t n, mode_t mode);

/* The end of a text file (a log): at most max_lines lines (0: no limit) out
 * of its last max_bytes bytes (0: FS_TAIL_MAX_BYTES). The text starts on a
 * line start, or on a character boundary when max_bytes cut a line; a final
 * newline does not count as a line. *out is NUL-terminated, caller frees; its
 * length goes to *len (optional). -ENOENT when the file does not exist. */
#define FS_TAIL_MAX_BYTES 8192
int fs_file_tail(const char *path, size_t max_bytes, size_t max_lines, char **out, size_t *len);

#endif
