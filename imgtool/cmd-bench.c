/* SPDX-License-Identifier: MIT */
/*
 * imgtool/cmd-bench.c - `rrvm-img bench`: -d requests in flight on a pool
 * of -d threads (capped at IMG_BENCH_MAX_THREADS).
 *
 * Concurrency model: qcow2_image is single-threaded, so every library call
 * (block status, reads and writes that allocate, flush) is serialised by
 * one metadata lock. Requests that land wholly inside one allocated,
 * uncompressed data cluster of the top layer (or anywhere in a raw image)
 * are then done with pread/pwrite on a second descriptor of the same file,
 * outside the lock, so they overlap. Writes take that path only when the
 * image has no internal snapshots (every active cluster then has refcount
 * 1, so in-place writes cannot touch shared data).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "imgtool/img.h"

/* Threads used for -d requests in flight; more only add switching. */
#define IMG_BENCH_MAX_THREADS 128
/* Clusters whose mapping bench caches (8 bytes each: 128 MiB at most). */
#define IMG_BENCH_MAX_MAP (16u << 20)
/* Memory alignment for O_DIRECT buffers. */
#define IMG_BENCH_ALIGN 4096

struct img_bench {
    struct qcow2_image *img;
    int fd; /* same file, for data-cluster I/O */
    bool raw;
    bool fast_write; /* no snapshots: in-place writes are safe */
    bool direct;     /* O_DIRECT on fd */
    bool write;
    uint8_t pattern;
    uint64_t count;
    uint64_t bufsize;
    uint64_t step;
    uint64_t image_size;
    uint64_t flush_interval;
    bool drain;

    pthread_mutex_t meta; /* serialises every qcow2_* call */
    /* Host offset + 1 of each data cluster already seen allocated (0 =
     * not known); lets requests skip the lock. NULL if unused. */
    _Atomic uint64_t *hostmap;
    uint64_t nclusters;
    uint32_t cluster;
    pthread_mutex_t q; /* request queue state below */
    pthread_cond_t cond;
    uint64_t issued;
    uint64_t completed;
    uint64_t flushed_upto;
    uint64_t next_off;
    int error; /* first negative errno */
};

static int img_bench_flush(struct img_bench *b)
{
    struct err err = {0};
    int ret;

    pthread_mutex_lock(&b->meta);
    ret = qcow2_flush(b->img, &err);
    pthread_mutex_unlock(&b->meta);
    if (ret == 0 && b->fd >= 0 && fdatasync(b->fd) < 0) {
        ret = -errno;
    }
    return ret;
}

static int img_bench_full_io(struct img_bench *b, uint8_t *buf, uint64_t host)
{
    size_t done = 0;

    while (done < b->bufsize) {
        ssize_t n;

        if (b->write) {
            n = pwrite(b->fd, buf + done, b->bufsize - done,
                       (off_t)(host + done));
        } else {
            n = pread(b->fd, buf + done, b->bufsize - done,
                      (off_t)(host + done));
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            if (b->write) {
                return -EIO;
            }
            memset(buf + done, 0, b->bufsize - done);
            break;
        }
        done += (size_t)n;
    }
    return 0;
}

/*
 * With the metadata lock held: may the request at @off go straight to the
 * file? Sets *@host. True for a raw image, or when the range lies in one
 * allocated, uncompressed data cluster of the top layer.
 */
static bool img_bench_map_locked(struct img_bench *b, uint64_t off,
                                 uint64_t *host)
{
    struct qcow2_extent e;
    struct err err = {0};

    if (b->raw) {
        *host = off;
        return true;
    }
    if (qcow2_block_status(b->img, off, b->bufsize, false, &e, &err) < 0 ||
        e.length < b->bufsize || e.depth != 0 || !(e.flags & QCOW2_BS_DATA) ||
        !(e.flags & QCOW2_BS_OFFSET) ||
        (e.flags & (QCOW2_BS_COMPRESSED | QCOW2_BS_ZERO))) {
        return false;
    }
    *host = e.host_offset;
    return !b->direct || *host % 512 == 0;
}

/* Lock-free lookup in the cluster map cache. */
static bool img_bench_map_cached(struct img_bench *b, uint64_t off,
                                 uint64_t *host)
{
    uint64_t in = off % b->cluster;
    uint64_t h;

    if (!b->hostmap || in + b->bufsize > b->cluster) {
        return false;
    }
    h = atomic_load_explicit(&b->hostmap[off / b->cluster],
                             memory_order_acquire);
    if (!h) {
        return false;
    }
    *host = h - 1 + in;
    return true;
}

static void img_bench_map_remember(struct img_bench *b, uint64_t off,
                                   uint64_t host)
{
    uint64_t in = off % b->cluster;

    if (b->hostmap && in + b->bufsize <= b->cluster) {
        atomic_store_explicit(&b->hostmap[off / b->cluster], host - in + 1,
                              memory_order_release);
    }
}

static int img_bench_request(struct img_bench *b, uint64_t off, uint8_t *buf)
{
    struct err err = {0};
    bool eligible;
    bool fast = false;
    uint64_t host = 0;
    int ret;

    if (off > b->image_size || b->bufsize > b->image_size - off) {
        return -EIO;
    }
    eligible = b->fd >= 0 && (!b->write || b->fast_write) &&
               (!b->direct || ((off | b->bufsize) % 512) == 0);
    if (eligible) {
        if (b->raw) {
            fast = img_bench_map_locked(b, off, &host);
        } else if (img_bench_map_cached(b, off, &host)) {
            fast = true;
        } else {
            pthread_mutex_lock(&b->meta);
            fast = img_bench_map_locked(b, off, &host);
            pthread_mutex_unlock(&b->meta);
            if (fast) {
                img_bench_map_remember(b, off, host);
            }
        }
    }
    if (fast) {
        return img_bench_full_io(b, buf, host);
    }
    pthread_mutex_lock(&b->meta);
    /* Another request may have allocated the cluster meanwhile. */
    if (eligible && img_bench_map_locked(b, off, &host)) {
        pthread_mutex_unlock(&b->meta);
        img_bench_map_remember(b, off, host);
        return img_bench_full_io(b, buf, host);
    }
    if (b->write) {
        ret = qcow2_write(b->img, off, buf, b->bufsize, &err);
    } else {
        ret = qcow2_read(b->img, off, buf, b->bufsize, &err);
    }
    pthread_mutex_unlock(&b->meta);
    return ret;
}

static void *img_bench_worker(void *opaque)
{
    struct img_bench *b = opaque;
    uint8_t *raw = mem_alloc(b->bufsize + IMG_BENCH_ALIGN);
    uint8_t *buf;

    if (!raw) {
        pthread_mutex_lock(&b->q);
        if (!b->error) {
            b->error = -ENOMEM;
        }
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->q);
        return NULL;
    }
    buf = raw + (IMG_BENCH_ALIGN - (uintptr_t)raw % IMG_BENCH_ALIGN);
    memset(buf, b->pattern, b->bufsize);
    pthread_mutex_lock(&b->q);
    while (!b->error && b->issued < b->count) {
        uint64_t off;
        int ret;

        if (b->drain && b->flush_interval && b->issued > 0 &&
            b->issued % b->flush_interval == 0 && b->flushed_upto < b->issued) {
            pthread_cond_wait(&b->cond, &b->q);
            continue;
        }
        off = b->next_off;
        b->issued++;
        b->next_off = (b->next_off + b->step) % b->image_size;
        pthread_mutex_unlock(&b->q);
        ret = img_bench_request(b, off, buf);
        pthread_mutex_lock(&b->q);
        if (ret < 0 && !b->error) {
            b->error = ret;
        }
        b->completed++;
        if (!b->error && b->flush_interval &&
            b->completed % b->flush_interval == 0) {
            uint64_t upto = b->completed;

            pthread_mutex_unlock(&b->q);
            ret = img_bench_flush(b);
            pthread_mutex_lock(&b->q);
            if (ret < 0 && !b->error) {
                b->error = ret;
            }
            if (upto > b->flushed_upto) {
                b->flushed_upto = upto;
            }
        }
        pthread_cond_broadcast(&b->cond);
    }
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->q);
    mem_free(raw);
    return NULL;
}

static const struct option img_bench_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"flush-interval", required_argument, NULL, IMG_OPT_FLUSH_INTERVAL},
    {"image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS},
    {"pattern", required_argument, NULL, IMG_OPT_PATTERN},
    {"no-drain", no_argument, NULL, IMG_OPT_NO_DRAIN},
    {"force-share", no_argument, NULL, 'U'},
    {NULL, 0, NULL, 0},
};

int img_cmd_bench(int argc, char **argv)
{
    struct img_bench b;
    struct qcow2_info info;
    const char *fmt = NULL;
    const char *filename;
    unsigned long ul;
    int64_t sval;
    uint64_t depth = 64;
    int64_t offset = 0;
    unsigned flags = 0;
    unsigned cflags;
    bool force_share = false;
    bool native = false;
    pthread_t th[IMG_BENCH_MAX_THREADS];
    int nth = 0;
    struct timespec t0, t1;
    int ret = 1;
    int i;
    int c;

    memset(&b, 0, sizeof(b));
    b.fd = -1;
    b.count = 75000;
    b.bufsize = 4096;
    b.drain = true;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hc:d:f:ni:o:qs:S:t:wU",
                            img_bench_longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (img_strtoul(optarg, &ul) < 0 || ul > INT_MAX) {
                img_error("Invalid request count specified");
                return 1;
            }
            b.count = ul;
            break;
        case 'd':
            if (img_strtoul(optarg, &ul) < 0 || ul > INT_MAX || ul == 0) {
                img_error("Invalid queue depth specified");
                return 1;
            }
            depth = ul;
            break;
        case 'f':
            fmt = optarg;
            break;
        case 'n':
            native = true;
            break;
        case 'i':
            if (!strcmp(optarg, "native")) {
                native = true;
            } else if (strcmp(optarg, "threads") &&
                       strcmp(optarg, "io_uring")) {
                img_error("Invalid aio option: %s", optarg);
                return 1;
            }
            break;
        case 'o':
            if (img_cvtnum("offset", optarg, 0, INT64_MAX, &offset) < 0) {
                return 1;
            }
            break;
        case 'q':
            break;
        case 's':
            if (img_cvtnum("buffer size", optarg, 0, INT_MAX, &sval) < 0) {
                return 1;
            }
            b.bufsize = (uint64_t)sval;
            break;
        case 'S':
            if (img_cvtnum("step_size", optarg, 0, INT_MAX, &sval) < 0) {
                return 1;
            }
            b.step = (uint64_t)sval;
            break;
        case 't':
            if (img_cache_flags(optarg, &cflags) < 0) {
                img_error("Invalid cache mode");
                return 1;
            }
            flags |= cflags;
            break;
        case 'w':
            b.write = true;
            break;
        case 'U':
            force_share = true;
            break;
        case IMG_OPT_PATTERN:
            if (img_strtoul(optarg, &ul) < 0 || ul > 0xff) {
                img_error("Invalid pattern byte specified");
                return 1;
            }
            b.pattern = (uint8_t)ul;
            break;
        case IMG_OPT_FLUSH_INTERVAL:
            if (img_strtoul(optarg, &ul) < 0 || ul > INT_MAX) {
                img_error("Invalid flush interval specified");
                return 1;
            }
            b.flush_interval = ul;
            break;
        case IMG_OPT_NO_DRAIN:
            b.drain = false;
            break;
        default:
            if (img_opt_common(c, argv, &ret)) {
                return ret;
            }
            break;
        }
    }
    filename = img_one_filename(argc, argv);
    if (!filename) {
        return 1;
    }
    if (!b.write && b.flush_interval) {
        img_error("--flush-interval is only available in write tests");
        return 1;
    }
    if (b.flush_interval && b.flush_interval < depth) {
        img_error("Flush interval can't be smaller than depth");
        return 1;
    }
    if (native && !(flags & QCOW2_OPEN_NOCACHE)) {
        img_error("Could not open '%s': aio=native was specified, but it "
                  "requires cache.direct=on, which was not specified.",
                  filename);
        return 1;
    }
    if (!b.write) {
        flags |= QCOW2_OPEN_RDONLY;
    }
    if (force_share) {
        flags |= QCOW2_OPEN_FORCE_SHARE;
    }
    if (img_open(filename, fmt, flags, &b.img) < 0) {
        return 1;
    }
    qcow2_get_info(b.img, &info);
    b.image_size = qcow2_size(b.img);
    b.raw = info.format == QCOW2_FORMAT_RAW;
    b.fast_write = info.nb_snapshots == 0 && !info.corrupt;
    b.direct = flags & QCOW2_OPEN_NOCACHE;
    b.cluster = qcow2_cluster_size(b.img);
    if (!b.raw && b.cluster) {
        b.nclusters = (b.image_size + b.cluster - 1) / b.cluster;
        if (b.nclusters <= IMG_BENCH_MAX_MAP) {
            b.hostmap =
                mem_calloc(b.nclusters ? b.nclusters : 1, sizeof(*b.hostmap));
        }
    }
    if (!b.step) {
        b.step = b.bufsize;
    }
    b.next_off = (uint64_t)offset;
    b.fd =
        open(qcow2_filename(b.img), (b.write ? O_RDWR : O_RDONLY) |
                                        (b.direct ? O_DIRECT : 0) | O_CLOEXEC);
    printf("Sending %" PRIu64 " %s requests, %" PRIu64 " bytes each, %" PRIu64
           " in parallel (starting at offset %" PRId64 ", step size %" PRIu64
           ")\n",
           b.count, b.write ? "write" : "read", b.bufsize, depth, offset,
           b.step);
    if (b.flush_interval) {
        printf("Sending flush every %" PRIu64 " requests\n", b.flush_interval);
    }
    fflush(stdout);
    if (b.image_size == 0 && b.count > 0) {
        img_error("Failed request: %s", strerror(EIO));
        goto out;
    }
    pthread_mutex_init(&b.meta, NULL);
    pthread_mutex_init(&b.q, NULL);
    pthread_cond_init(&b.cond, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (nth = 0; (uint64_t)nth < depth && nth < IMG_BENCH_MAX_THREADS &&
                  (uint64_t)nth < b.count;
         nth++) {
        if (pthread_create(&th[nth], NULL, img_bench_worker, &b) != 0) {
            break;
        }
    }
    for (i = 0; i < nth; i++) {
        pthread_join(th[i], NULL);
    }
    if (!b.error && b.write) {
        b.error = img_bench_flush(&b);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_cond_destroy(&b.cond);
    pthread_mutex_destroy(&b.q);
    pthread_mutex_destroy(&b.meta);
    if (b.error) {
        img_error("Failed request: %s",
                  b.error == -EINVAL ? strerror(EIO) : strerror(-b.error));
        goto out;
    }
    printf("Run completed in %3.3f seconds.\n",
           (double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    ret = 0;
out:
    mem_free((void *)b.hostmap);
    if (b.fd >= 0) {
        close(b.fd);
    }
    if (qcow2_close(b.img) < 0 && ret == 0) {
        img_error("Error while closing the image");
        ret = 1;
    }
    return ret;
}
