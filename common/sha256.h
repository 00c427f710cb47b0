/* sha256.h - SHA-256 (FIPS 180-4), for checking downloaded files (models)
 * against a published digest. Streaming: init, update any number of times,
 * final. No allocation; the context is the caller's. */
#ifndef PSY_SHA256_H
#define PSY_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN 64 /* lower-case hex digits, without the NUL */

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t total;  /* bytes hashed so far */
    uint8_t blk[64]; /* the block being filled */
    size_t nblk;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
/* Writes the digest; c must be initialised again before reuse. */
void sha256_final(sha256_ctx *c, uint8_t out[SHA256_DIGEST_LEN]);

/* The digest as lower-case hex, NUL-terminated. */
void sha256_hex(const uint8_t d[SHA256_DIGEST_LEN], char out[SHA256_HEX_LEN + 1]);

/* One call: the hex digest of data[0..n). */
void sha256_hex_of(const void *data, size_t n, char out[SHA256_HEX_LEN + 1]);

/* The hex digest of a whole file. 0 or a negative errno (-ENOENT, -EIO...). */
int sha256_file_hex(const char *path, char out[SHA256_HEX_LEN + 1]);

#endif
