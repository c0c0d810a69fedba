/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz-snapdiff.c - the snapshot-diff reader (catalog/cat-diff.c)
 * on untrusted vmstate areas: two areas from the input become the VM-state
 * of two internal snapshots of a small qcow2 image, which
 * cat_snapshot_diff() then compares. Any crash, leak or sanitizer report
 * is a bug.
 *
 * FUZZ_SNAPDIFF_SEED=IMAGE:OUT writes to OUT an input made of the areas
 * (header, blob and page table, compacted; no RAM) of snapshots 1 and 2 of
 * IMAGE, an image rrvm saved (see corpus/fuzz-snapdiff/).
 *
 * Input: a flag byte (bit 0: fix the area CRCs up so the parser gets past
 * them; bit 1: write a disk cluster between the snapshots), a
 * little-endian u32 giving the length of area A (modulo what is left),
 * area A, then area B.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "common/bytes.h"
#include "common/hash.h"
#include "qcow2/qcow2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_AREA_HDR_LEN 136u
/* Areas and CRC fix-ups stay this small so that each run is quick. */
#define FUZZ_AREA_MAX  (1u << 20)
#define FUZZ_DISK_SIZE (64u << 10)
#define FUZZ_FLAG_CRC  1u
#define FUZZ_FLAG_DISK 2u

static const char *image_path(void)
{
    static char path[64];

    if (!path[0]) {
        /* tmpfs: rewriting a file on ext4 forces a flush per input. */
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof(path), "%s/fuzz-snapdiff-%ld.img", dir,
                 (long)getpid());
    }
    return path;
}

/* CRC32C of @len bytes at @off of @area, the bytes past @area_len read as
 * zero (as the unwritten rest of a VM-state area does). */
static uint32_t crc_zero_ext(const uint8_t *area, size_t area_len, uint64_t off,
                             uint64_t len)
{
    static const uint8_t zero[4096];
    uint32_t crc = 0;

    if (off < area_len) {
        size_t n = len < area_len - off ? (size_t)len : area_len - (size_t)off;

        crc = hash_crc32c(crc, area + off, n);
        len -= n;
    }
    while (len) {
        size_t n = len < sizeof(zero) ? (size_t)len : sizeof(zero);

        crc = hash_crc32c(crc, zero, n);
        len -= n;
    }
    return crc;
}

/* The table CRC (if the table is small) and the header CRC of @area. */
static void fix_crcs(uint8_t *area, size_t len)
{
    uint64_t table_off, table_len;

    if (len < FUZZ_AREA_HDR_LEN) {
        return;
    }
    table_off = rd_le64(area + 48);
    table_len = rd_le64(area + 56);
    if (table_len <= FUZZ_AREA_MAX && table_off <= FUZZ_AREA_MAX) {
        wr_le32(area + 128, crc_zero_ext(area, len, table_off, table_len));
    }
    wr_le32(area + 132, hash_crc32c(0, area, 132));
}

static int snap_add(struct qcow2_image *img, const char *name,
                    const uint8_t *area, size_t len)
{
    struct qcow2_snapshot_params p;

    if (len && qcow2_vmstate_write(img, 0, area, len, NULL) < 0) {
        return -1;
    }
    memset(&p, 0, sizeof(p));
    p.name = name;
    p.vm_state_size = len;
    p.icount = UINT64_MAX;
    return qcow2_snapshot_create(img, &p, NULL);
}

static int build_image(unsigned flags, const uint8_t *a, size_t a_len,
                       const uint8_t *b, size_t b_len)
{
    static const uint8_t pattern[512] = {0x5a};
    struct qcow2_create_opts o;
    struct qcow2_image *img = NULL;
    int ret;

    qcow2_create_opts_init(&o);
    o.size = FUZZ_DISK_SIZE;
    o.cluster_size = 512;
    ret = qcow2_create(image_path(), &o, NULL);
    if (ret == 0) {
        ret = qcow2_open(image_path(), QCOW2_FORMAT_QCOW2, 0, &img, NULL);
    }
    if (ret == 0) {
        ret = snap_add(img, "a", a, a_len);
    }
    if (ret == 0 && (flags & FUZZ_FLAG_DISK)) {
        ret = qcow2_write(img, 4096, pattern, sizeof(pattern), NULL);
    }
    if (ret == 0) {
        ret = snap_add(img, "b", b, b_len);
    }
    if (qcow2_close(img) < 0) {
        ret = -1;
    }
    return ret;
}

static void diff(void)
{
    const unsigned ro = QCOW2_OPEN_RDONLY | QCOW2_OPEN_NO_BACKING;
    struct qcow2_image *ia = NULL, *ib = NULL;
    struct cat_diff d;
    struct err err;

    if (qcow2_open(image_path(), QCOW2_FORMAT_QCOW2, ro, &ia, NULL) == 0 &&
        qcow2_open(image_path(), QCOW2_FORMAT_QCOW2, ro, &ib, NULL) == 0 &&
        cat_snapshot_diff(ia, ib, "1", "b", &d, &err) == 0) {
        /* Lists must be as long as they say. */
        for (size_t i = 0; i < d.nb_devices; i++) {
            if (!memchr(d.devices[i], 0, sizeof(d.devices[i]))) {
                abort();
            }
        }
        for (size_t i = 1; i < d.nb_pages; i++) {
            if (d.pages[i] <= d.pages[i - 1]) {
                abort();
            }
        }
        cat_diff_fini(&d);
    }
    qcow2_close(ia);
    qcow2_close(ib);
}

/* Snapshot @id's area compacted: the header, the blob right after it,
 * then the page table (the reader takes any offsets); no RAM. */
static size_t area_read(struct qcow2_image *img, const char *id, uint8_t **out)
{
    uint8_t hdr[FUZZ_AREA_HDR_LEN];
    uint64_t blob_len, table_len;
    uint8_t *p;

    if (qcow2_snapshot_load_tmp(img, id, NULL) < 0 ||
        qcow2_vmstate_read(img, 0, hdr, sizeof(hdr), NULL) < 0) {
        return 0;
    }
    blob_len = rd_le64(hdr + 40);
    table_len = rd_le64(hdr + 56);
    if (blob_len > FUZZ_AREA_MAX || table_len > FUZZ_AREA_MAX) {
        return 0;
    }
    p = malloc(sizeof(hdr) + blob_len + table_len);
    *out = p;
    if (!p ||
        qcow2_vmstate_read(img, rd_le64(hdr + 32), p + sizeof(hdr), blob_len,
                           NULL) < 0 ||
        qcow2_vmstate_read(img, rd_le64(hdr + 48), p + sizeof(hdr) + blob_len,
                           table_len, NULL) < 0) {
        return 0;
    }
    wr_le64(hdr + 32, sizeof(hdr));
    wr_le64(hdr + 48, sizeof(hdr) + blob_len);
    wr_le32(hdr + 132, hash_crc32c(0, hdr, 132));
    memcpy(p, hdr, sizeof(hdr));
    return sizeof(hdr) + blob_len + table_len;
}

static void seed_write(const char *spec)
{
    const unsigned ro = QCOW2_OPEN_RDONLY | QCOW2_OPEN_FORCE_SHARE;
    const char *colon = strchr(spec, ':');
    char path[4096];
    struct qcow2_image *ia = NULL, *ib = NULL;
    uint8_t *a = NULL, *b = NULL, head[5] = {FUZZ_FLAG_DISK};
    size_t a_len = 0, b_len = 0;
    FILE *f;

    if (!colon || (size_t)(colon - spec) >= sizeof(path)) {
        return;
    }
    snprintf(path, sizeof(path), "%.*s", (int)(colon - spec), spec);
    if (qcow2_open(path, QCOW2_FORMAT_QCOW2, ro, &ia, NULL) == 0 &&
        qcow2_open(path, QCOW2_FORMAT_QCOW2, ro, &ib, NULL) == 0) {
        a_len = area_read(ia, "1", &a);
        b_len = area_read(ib, "2", &b);
    }
    f = a_len && b_len ? fopen(colon + 1, "wb") : NULL;
    if (f) {
        wr_le32(head + 1, (uint32_t)a_len);
        fwrite(head, 1, sizeof(head), f);
        fwrite(a, 1, a_len, f);
        fwrite(b, 1, b_len, f);
        fclose(f);
    }
    free(a);
    free(b);
    qcow2_close(ia);
    qcow2_close(ib);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *a, *b;
    size_t a_len, b_len;
    unsigned flags;

    if (getenv("FUZZ_SNAPDIFF_SEED")) {
        seed_write(getenv("FUZZ_SNAPDIFF_SEED"));
    }
    if (size < 5) {
        return 0;
    }
    flags = data[0];
    a_len = rd_le32(data + 1) % (size - 5 + 1);
    b_len = size - 5 - a_len;
    if (a_len > FUZZ_AREA_MAX || b_len > FUZZ_AREA_MAX) {
        return 0;
    }
    a = malloc(a_len + 1);
    b = malloc(b_len + 1);
    if (!a || !b) {
        free(a);
        free(b);
        return 0;
    }
    memcpy(a, data + 5, a_len);
    memcpy(b, data + 5 + a_len, b_len);
    if (flags & FUZZ_FLAG_CRC) {
        fix_crcs(a, a_len);
        fix_crcs(b, b_len);
    }
    if (build_image(flags, a, a_len, b, b_len) == 0) {
        diff();
    }
    unlink(image_path());
    free(a);
    free(b);
    return 0;
}
