/* SPDX-License-Identifier: MIT */
/*
 * qcow2/qcow2-compress.c - cluster compression as QEMU 7.2 stores it: raw
 * deflate (window bits -12, no zlib header) or a zstd frame.
 */
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "qcow2/qcow2-int.h"

static int zlib_compress(void *dst, size_t dst_cap, const void *src,
                         size_t src_len)
{
    z_stream strm;
    int zret;
    int ret;

    memset(&strm, 0, sizeof(strm));
    zret = deflateInit2(&strm, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
                        Z_DEFAULT_STRATEGY);
    if (zret != Z_OK) {
        return -ENOMEM;
    }
    strm.next_in = (Bytef *)(uintptr_t)src;
    strm.avail_in = (uInt)src_len;
    strm.next_out = dst;
    strm.avail_out = (uInt)dst_cap;
    zret = deflate(&strm, Z_FINISH);
    if (zret == Z_STREAM_END) {
        ret = (int)(dst_cap - strm.avail_out);
    } else {
        ret = -ENOSPC;
    }
    deflateEnd(&strm);
    return ret;
}

static int zlib_decompress(void *dst, size_t dst_len, const void *src,
                           size_t src_len)
{
    z_stream strm;
    int zret;
    int ret = 0;

    memset(&strm, 0, sizeof(strm));
    strm.next_in = (Bytef *)(uintptr_t)src;
    strm.avail_in = (uInt)src_len;
    strm.next_out = dst;
    strm.avail_out = (uInt)dst_len;
    if (inflateInit2(&strm, -12) != Z_OK) {
        return -ENOMEM;
    }
    zret = inflate(&strm, Z_FINISH);
    /*
     * The stream may end inside the last 512-byte sector, followed by the
     * start of the next compressed cluster: success is a full output
     * buffer, whether or not zlib saw the end of the stream.
     */
    if ((zret != Z_STREAM_END && zret != Z_BUF_ERROR) || strm.avail_out != 0) {
        ret = -EBADMSG;
    }
    inflateEnd(&strm);
    return ret;
}

static int zstd_compress(void *dst, size_t dst_cap, const void *src,
                         size_t src_len)
{
    size_t n = ZSTD_compress(dst, dst_cap, src, src_len, ZSTD_CLEVEL_DEFAULT);

    if (ZSTD_isError(n)) {
        return -ENOSPC;
    }
    if (n >= dst_cap) {
        return -ENOSPC;
    }
    return (int)n;
}

static int zstd_decompress(void *dst, size_t dst_len, const void *src,
                           size_t src_len)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    ZSTD_inBuffer in = {src, src_len, 0};
    ZSTD_outBuffer out = {dst, dst_len, 0};
    int ret = 0;

    if (!dctx) {
        return -ENOMEM;
    }
    /* Trailing bytes after the frame (shared last sector) are ignored. */
    while (out.pos < out.size) {
        size_t r = ZSTD_decompressStream(dctx, &out, &in);
        if (ZSTD_isError(r)) {
            ret = -EBADMSG;
            break;
        }
        if (r == 0 && out.pos < out.size) {
            ret = -EBADMSG; /* frame ended early */
            break;
        }
        if (in.pos == in.size && out.pos < out.size) {
            ret = -EBADMSG;
            break;
        }
    }
    ZSTD_freeDCtx(dctx);
    return ret;
}

int qcow2_decompress(enum qcow2_compression type, void *dst, size_t dst_len,
                     const void *src, size_t src_len)
{
    switch (type) {
    case QCOW2_COMPRESSION_ZLIB:
        return zlib_decompress(dst, dst_len, src, src_len);
    case QCOW2_COMPRESSION_ZSTD:
        return zstd_decompress(dst, dst_len, src, src_len);
    }
    return -EBADMSG;
}

int qcow2_compress_buf(enum qcow2_compression type, void *dst, size_t dst_cap,
                       const void *src, size_t src_len)
{
    int ret = -EINVAL;

    switch (type) {
    case QCOW2_COMPRESSION_ZLIB:
        ret = zlib_compress(dst, dst_cap, src, src_len);
        break;
    case QCOW2_COMPRESSION_ZSTD:
        ret = zstd_compress(dst, dst_cap, src, src_len);
        break;
    }
    if (ret >= 0 && (size_t)ret >= dst_cap) {
        ret = -ENOSPC;
    }
    return ret;
}

int qcow2_compress(const struct qcow2_image *img, void *dst, size_t dst_cap,
                   const void *src, size_t src_len)
{
    enum qcow2_compression type;
    size_t cap;

    CHECK_ARG(img && dst && src);
    if (img->format != QCOW2_FORMAT_QCOW2) {
        return -ENOTSUP;
    }
    CHECK_ARG(src_len <= img->cluster_size);
    type = (enum qcow2_compression)img->hdr.compression_type;
    /* As QEMU: anything shorter than a cluster is stored compressed. */
    cap = dst_cap;
    if (cap > img->cluster_size - 1) {
        cap = img->cluster_size - 1;
    }
    return qcow2_compress_buf(type, dst, cap, src, src_len);
}
