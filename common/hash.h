/* SPDX-License-Identifier: MIT */
/* common/hash.h - CRC32C and SHA-256 (the latter through libcrypto). */
#ifndef COMMON_HASH_H
#define COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_SHA256_LEN 32

/* CRC32C (Castagnoli). Start with crc = 0; feed chunks in order. */
uint32_t hash_crc32c(uint32_t crc, const void *src, size_t src_len);

struct hash_sha256; /* opaque streaming context */

/* Returns 0, or -ENOMEM. */
int hash_sha256_new(struct hash_sha256 **out);
void hash_sha256_update(struct hash_sha256 *h, const void *src, size_t src_len);
/* Writes HASH_SHA256_LEN bytes to @dst and frees @h. Accepts NULL @h. */
void hash_sha256_final(struct hash_sha256 *h, uint8_t *dst);
/* One-shot digest of @src. */
void hash_sha256(const void *src, size_t src_len, uint8_t *dst);
/* Lower-case hex of @len bytes into @dst (2*len+1 bytes). */
void hash_hex(const uint8_t *src, size_t len, char *dst);

#endif /* COMMON_HASH_H */
