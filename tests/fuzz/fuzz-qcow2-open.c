/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz-qcow2-open.c - the untrusted-image path: open, info,
 * snapshot list, block status, reads, a read-only check, the bitmap
 * directory and reads through a snapshot's L1 of an arbitrary file. Any
 * crash, hang, leak or sanitizer report is a bug.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qcow2/qcow2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bytes read per probe; small so that huge virtual sizes stay cheap. */
#define FUZZ_READ_LEN 4096

static const char *image_path(void)
{
    static char path[64];

    if (!path[0]) {
        /* tmpfs: rewriting a file on ext4 forces a flush per input. */
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof(path), "%s/fuzz-qcow2-%ld.img", dir,
                 (long)getpid());
    }
    return path;
}

static int write_image(const uint8_t *data, size_t size)
{
    int fd = open(image_path(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t done = 0;

    if (fd < 0) {
        return -1;
    }
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    close(fd);
    return 0;
}

static void ignore_report(void *opaque, const char *line)
{
    (void)opaque;
    (void)line;
}

static void probe(struct qcow2_image *img)
{
    static uint8_t buf[FUZZ_READ_LEN];
    struct qcow2_snapshot_info snaps[4];
    struct qcow2_check_result res;
    struct qcow2_extent ext;
    struct qcow2_info info;
    uint64_t size = qcow2_size(img);
    uint64_t off = 0;

    qcow2_get_info(img, &info);
    qcow2_snapshot_list(img, snaps, 4);
    for (int i = 0; i < 64 && off < size; i++) {
        if (qcow2_block_status(img, off, size - off, true, &ext, NULL) < 0 ||
            ext.length == 0) {
            break;
        }
        size_t len =
            size - off < FUZZ_READ_LEN ? (size_t)(size - off) : FUZZ_READ_LEN;
        qcow2_read(img, off, buf, len, NULL);
        off += ext.length;
    }
    if (size > FUZZ_READ_LEN) {
        qcow2_read(img, size - FUZZ_READ_LEN, buf, FUZZ_READ_LEN, NULL);
    }
    qcow2_check(img, 0, ignore_report, NULL, &res, NULL);
    {
        struct qcow2_bitmap_info bm[2];
        size_t nb;

        qcow2_bitmap_list(img, bm, 2, &nb, NULL);
    }
    /* Last: reading through a snapshot's L1 replaces the active one. */
    if (qcow2_snapshot_list(img, snaps, 4) > 0 &&
        qcow2_snapshot_load_tmp(img, snaps[0].id, NULL) == 0) {
        size_t len = size < FUZZ_READ_LEN ? (size_t)size : FUZZ_READ_LEN;
        qcow2_read(img, 0, buf, len, NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qcow2_image *img = NULL;
    struct err err;

    if (write_image(data, size) < 0) {
        return 0;
    }
    if (qcow2_open(image_path(), QCOW2_FORMAT_QCOW2,
                   QCOW2_OPEN_RDONLY | QCOW2_OPEN_NO_BACKING, &img,
                   &err) == 0) {
        probe(img);
        qcow2_close(img);
    }
    unlink(image_path());
    return 0;
}
