/* SPDX-License-Identifier: MIT */
/* common/bytes.h - explicit-endian loads and stores on byte buffers. */
#ifndef COMMON_BYTES_H
#define COMMON_BYTES_H

#include <stdint.h>

static inline uint16_t rd_be16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)((b[0] << 8) | b[1]);
}

static inline uint32_t rd_be32(const void *p)
{
    const uint8_t *b = p;
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
           ((uint32_t)b[2] << 8) | b[3];
}

static inline uint64_t rd_be64(const void *p)
{
    const uint8_t *b = p;
    return ((uint64_t)rd_be32(b) << 32) | rd_be32(b + 4);
}

static inline void wr_be16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static inline void wr_be32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

static inline void wr_be64(void *p, uint64_t v)
{
    wr_be32(p, (uint32_t)(v >> 32));
    wr_be32((uint8_t *)p + 4, (uint32_t)v);
}

static inline uint16_t rd_le16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] | (b[1] << 8));
}

static inline uint32_t rd_le32(const void *p)
{
    const uint8_t *b = p;
    return b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
           ((uint32_t)b[3] << 24);
}

static inline uint64_t rd_le64(const void *p)
{
    const uint8_t *b = p;
    return rd_le32(b) | ((uint64_t)rd_le32(b + 4) << 32);
}

static inline void wr_le16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

static inline void wr_le32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static inline void wr_le64(void *p, uint64_t v)
{
    wr_le32(p, (uint32_t)v);
    wr_le32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

#endif /* COMMON_BYTES_H */
