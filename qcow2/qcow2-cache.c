/* SPDX-License-Identifier: MIT */
/*
 * qcow2/qcow2-cache.c - write-back cache of cluster-sized metadata tables
 * (L2 tables, refcount blocks), borrowed with get/put as in QEMU.
 */
#include <inttypes.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "qcow2/qcow2-int.h"

/* Hash buckets per entry: keeps chains short. */
#define CACHE_BUCKETS_PER_ENTRY 2
/* Table memory alignment: O_DIRECT writes tables without a bounce. */
#define CACHE_MEM_ALIGN 4096u

struct cache_entry {
    uint64_t offset; /* host offset of the table; 0 = free slot */
    uint64_t lru;    /* last use stamp */
    int ref;         /* borrowers */
    bool dirty;
    int next; /* next entry in the hash chain, -1 ends */
};

struct qcow2_cache {
    struct qcow2_image *img;
    size_t nb_entries;
    size_t table_size;     /* bytes (the cluster size) */
    uint8_t *mem;          /* nb_entries * table_size, 4 KiB aligned */
    void *mem_base;        /* allocation holding mem; owned */
    struct cache_entry *e; /* owned */
    int *buckets;          /* head entry per bucket, -1 empty; owned */
    size_t nb_buckets;     /* power of two */
    uint64_t stamp;
    struct qcow2_cache *depends; /* flush this first; NULL if none */
    unsigned ol_kind;            /* overlap kinds ignored on write-back */
    bool depends_on_flush;       /* fsync before the next write-back */
};

static size_t bucket_of(const struct qcow2_cache *c, uint64_t offset)
{
    uint64_t h = (offset >> 9) * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & (c->nb_buckets - 1);
}

int qcow2_cache_new(struct qcow2_image *img, size_t nb_entries,
                    struct qcow2_cache **out)
{
    struct qcow2_cache *c;
    size_t i;

    if (nb_entries < 2) {
        nb_entries = 2;
    }
    c = mem_calloc(1, sizeof(*c));
    if (!c) {
        return -ENOMEM;
    }
    c->img = img;
    c->nb_entries = nb_entries;
    c->table_size = (size_t)img->cluster_size;
    c->nb_buckets = 1;
    while (c->nb_buckets < nb_entries * CACHE_BUCKETS_PER_ENTRY) {
        c->nb_buckets <<= 1;
    }
    c->mem_base = mem_alloc(nb_entries * c->table_size + CACHE_MEM_ALIGN);
    c->e = mem_calloc(nb_entries, sizeof(*c->e));
    c->buckets = mem_alloc(c->nb_buckets * sizeof(int));
    if (!c->mem_base || !c->e || !c->buckets) {
        qcow2_cache_free(c);
        return -ENOMEM;
    }
    c->mem = (uint8_t *)c->mem_base +
             (CACHE_MEM_ALIGN - (uintptr_t)c->mem_base % CACHE_MEM_ALIGN) %
                 CACHE_MEM_ALIGN;
    for (i = 0; i < c->nb_buckets; i++) {
        c->buckets[i] = -1;
    }
    for (i = 0; i < nb_entries; i++) {
        c->e[i].next = -1;
    }
    *out = c;
    return 0;
}

void qcow2_cache_free(struct qcow2_cache *c)
{
    if (!c) {
        return;
    }
    mem_free(c->mem_base);
    mem_free(c->e);
    mem_free(c->buckets);
    mem_free(c);
}

static int flush_dependency(struct qcow2_cache *c, struct err *err);

int qcow2_cache_depends_on(struct qcow2_cache *c, struct qcow2_cache *dep,
                           struct err *err)
{
    int ret;

    if (c->depends == dep) {
        return 0;
    }
    /* No cycles: settle what @dep waits for before @c waits for @dep. */
    if (dep->depends) {
        ret = flush_dependency(dep, err);
        if (ret < 0) {
            return ret;
        }
    }
    if (c->depends) {
        ret = flush_dependency(c, err);
        if (ret < 0) {
            return ret;
        }
    }
    c->depends = dep;
    return 0;
}

void qcow2_cache_set_kind(struct qcow2_cache *c, unsigned ol_kind)
{
    c->ol_kind = ol_kind;
}

static void *entry_table(struct qcow2_cache *c, size_t i)
{
    return c->mem + i * c->table_size;
}

static size_t table_index(struct qcow2_cache *c, const void *table)
{
    size_t i = (size_t)((const uint8_t *)table - c->mem) / c->table_size;

    assert(i < c->nb_entries);
    return i;
}

static int find_entry(struct qcow2_cache *c, uint64_t offset)
{
    int i = c->buckets[bucket_of(c, offset)];

    while (i >= 0 && c->e[i].offset != offset) {
        i = c->e[i].next;
    }
    return i;
}

static void unlink_entry(struct qcow2_cache *c, int i)
{
    int *pp = &c->buckets[bucket_of(c, c->e[i].offset)];

    while (*pp >= 0 && *pp != i) {
        pp = &c->e[*pp].next;
    }
    if (*pp == i) {
        *pp = c->e[i].next;
    }
    c->e[i].next = -1;
    c->e[i].offset = 0;
    c->e[i].dirty = false;
}

static void link_entry(struct qcow2_cache *c, int i, uint64_t offset)
{
    size_t b = bucket_of(c, offset);

    c->e[i].offset = offset;
    c->e[i].next = c->buckets[b];
    c->buckets[b] = i;
}

void qcow2_cache_depends_on_flush(struct qcow2_cache *c)
{
    c->depends_on_flush = true;
}

static int flush_dependency(struct qcow2_cache *c, struct err *err)
{
    struct qcow2_cache *dep = c->depends;
    int ret;

    if (!dep) {
        if (c->depends_on_flush) {
            ret = qcow2_sync(c->img, err);
            if (ret < 0) {
                return ret;
            }
            c->depends_on_flush = false;
        }
        return 0;
    }
    c->depends_on_flush = false;
    c->depends = NULL;
    ret = qcow2_cache_flush(dep, err);
    if (ret < 0) {
        c->depends = dep;
        return ret;
    }
    return qcow2_sync(c->img, err);
}

static int entry_writeback(struct qcow2_cache *c, size_t i, struct err *err)
{
    struct qcow2_image *img = c->img;
    int ret;

    if (!c->e[i].dirty) {
        return 0;
    }
    if (img->sticky_err < 0) {
        return err_set(err, img->sticky_err,
                       "image is in an error state after a failed write");
    }
    ret = flush_dependency(c, err);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_pre_write_check(img, c->ol_kind, c->e[i].offset, c->table_size,
                                err);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_io_pwrite(img, c->e[i].offset, entry_table(c, i), c->table_size,
                          err);
    if (ret < 0) {
        img->sticky_err = ret;
        return ret;
    }
    c->e[i].dirty = false;
    return 0;
}

/* Pick a victim: an unused slot, else the least recently used unborrowed
 * entry (written back first). */
static int entry_evict(struct qcow2_cache *c, struct err *err)
{
    size_t i;
    int best = -1;
    int ret;

    for (i = 0; i < c->nb_entries; i++) {
        if (c->e[i].offset == 0) {
            return (int)i;
        }
        if (c->e[i].ref == 0 &&
            (best < 0 || c->e[i].lru < c->e[(size_t)best].lru)) {
            best = (int)i;
        }
    }
    if (best < 0) {
        return err_set(err, -ENOMEM, "metadata cache: all entries in use");
    }
    ret = entry_writeback(c, (size_t)best, err);
    if (ret < 0) {
        return ret;
    }
    unlink_entry(c, best);
    return best;
}

static int cache_do_get(struct qcow2_cache *c, uint64_t offset, bool read,
                        void **table, struct err *err)
{
    int i;
    int ret;

    if (offset == 0 || (offset & (c->table_size - 1)) != 0) {
        return qcow2_signal_corruption(
            c->img, err, "metadata table offset %#" PRIx64 " unaligned or zero",
            offset);
    }
    i = find_entry(c, offset);
    if (i < 0) {
        i = entry_evict(c, err);
        if (i < 0) {
            return i;
        }
        if (read) {
            ret = qcow2_io_pread(c->img, offset, entry_table(c, (size_t)i),
                                 c->table_size, err);
            if (ret < 0) {
                return ret;
            }
        }
        link_entry(c, i, offset);
    }
    c->e[i].ref++;
    c->e[i].lru = ++c->stamp;
    *table = entry_table(c, (size_t)i);
    return 0;
}

int qcow2_cache_get(struct qcow2_cache *c, uint64_t offset, void **table,
                    struct err *err)
{
    return cache_do_get(c, offset, true, table, err);
}

int qcow2_cache_get_empty(struct qcow2_cache *c, uint64_t offset, void **table,
                          struct err *err)
{
    return cache_do_get(c, offset, false, table, err);
}

void qcow2_cache_put(struct qcow2_cache *c, void **table)
{
    size_t i;

    if (!*table) {
        return;
    }
    i = table_index(c, *table);
    assert(c->e[i].ref > 0);
    c->e[i].ref--;
    *table = NULL;
}

void qcow2_cache_mark_dirty(struct qcow2_cache *c, void *table)
{
    c->e[table_index(c, table)].dirty = true;
}

int qcow2_cache_flush(struct qcow2_cache *c, struct err *err)
{
    size_t i;
    int ret;

    for (i = 0; i < c->nb_entries; i++) {
        if (c->e[i].offset != 0 && c->e[i].dirty) {
            ret = entry_writeback(c, i, err);
            if (ret < 0) {
                return ret;
            }
        }
    }
    return 0;
}

void qcow2_cache_discard(struct qcow2_cache *c, uint64_t offset)
{
    int i = find_entry(c, offset);

    if (i >= 0 && c->e[i].ref == 0) {
        unlink_entry(c, i);
    }
}

int qcow2_cache_empty(struct qcow2_cache *c, struct err *err)
{
    size_t i;
    int ret = qcow2_cache_flush(c, err);

    if (ret < 0) {
        return ret;
    }
    for (i = 0; i < c->nb_entries; i++) {
        if (c->e[i].offset != 0 && c->e[i].ref == 0) {
            unlink_entry(c, (int)i);
        }
    }
    return 0;
}
