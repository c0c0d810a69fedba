/* SPDX-License-Identifier: MIT */
/*
 * imgtool/img-util.c - size parsing, cache modes, image opening, "-o"
 * lists, human sizes and the progress line, each worded as qemu-img does.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "imgtool/img.h"

static int64_t img_suffix_mul(char c)
{
    switch (toupper((unsigned char)c)) {
    case 'B':
        return 1;
    case 'K':
        return 1ll << 10;
    case 'M':
        return 1ll << 20;
    case 'G':
        return 1ll << 30;
    case 'T':
        return 1ll << 40;
    case 'P':
        return 1ll << 50;
    case 'E':
        return 1ll << 60;
    default:
        return -1;
    }
}

static int img_strtou64(const char *s, const char **end, int base,
                        uint64_t *out)
{
    char *e;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &e, base);
    *end = e;
    if (e == s) {
        return -EINVAL;
    }
    if (errno == ERANGE) {
        return -ERANGE;
    }
    *out = v;
    return 0;
}

int img_strtosz(const char *s, uint64_t *out)
{
    const char *end;
    uint64_t val = 0;
    uint64_t valf = 0;
    int64_t mul;
    int ret;

    ret = img_strtou64(s, &end, 10, &val);
    if (ret < 0) {
        return ret;
    }
    if (memchr(s, '-', (size_t)(end - s))) {
        return -EINVAL;
    }
    if (val == 0 && (*end == 'x' || *end == 'X')) {
        ret = img_strtou64(s, &end, 16, &val);
        if (ret < 0) {
            return ret;
        }
        if (*end == '.' || img_suffix_mul(*end) > 0) {
            return -EINVAL;
        }
    } else if (*end == '.') {
        char *fe;
        double fraction;

        errno = 0;
        fraction = strtod(end, &fe);
        if (fe == end || errno || !isfinite(fraction)) {
            return -EINVAL;
        }
        if (memchr(end, 'e', (size_t)(fe - end)) ||
            memchr(end, 'E', (size_t)(fe - end))) {
            return -EINVAL;
        }
        if (fraction != 0) {
            valf = (uint64_t)(fraction * 0x1p64);
        }
        end = fe;
    }
    mul = img_suffix_mul(*end);
    if (mul > 0) {
        end++;
    } else {
        mul = 1;
    }
    if (mul == 1) {
        if (valf != 0) {
            return -EINVAL;
        }
    } else {
        unsigned __int128 r = (unsigned __int128)val * (uint64_t)mul;

        r += ((unsigned __int128)valf * (uint64_t)mul) >> 64;
        r += (((unsigned __int128)valf * (uint64_t)mul) >> 63) & 1;
        if (r >> 64) {
            return -ERANGE;
        }
        val = (uint64_t)r;
    }
    if (*end) {
        return -EINVAL;
    }
    *out = val;
    return 0;
}

int img_cvtnum(const char *name, const char *s, int64_t min, int64_t max,
               int64_t *out)
{
    uint64_t v = 0;
    int ret = img_strtosz(s, &v);

    if (ret < 0 && ret != -ERANGE) {
        img_error("Invalid %s specified. You may use k, M, G, T, P or E "
                  "suffixes for",
                  name);
        img_error("kilobytes, megabytes, gigabytes, terabytes, petabytes "
                  "and exabytes.");
        return -1;
    }
    if (ret == -ERANGE || v > (uint64_t)max || (int64_t)v < min) {
        img_error("Invalid %s specified. Must be between %" PRId64
                  " and %" PRId64 ".",
                  name, min, max);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

int img_strtoul(const char *s, unsigned long *out)
{
    char *e;
    unsigned long v;

    while (isspace((unsigned char)*s)) {
        s++;
    }
    if (*s == '-') {
        return -EINVAL;
    }
    errno = 0;
    v = strtoul(s, &e, 0);
    if (e == s || *e || errno) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

void *img_alloc_aligned(size_t len, void **base)
{
    const uintptr_t align = 4096;
    uint8_t *p = mem_alloc(len + align);

    *base = p;
    if (!p) {
        return NULL;
    }
    return p + (align - (uintptr_t)p % align) % align;
}

bool img_opt_common(int c, char **argv, int *status)
{
    switch (c) {
    case ':':
        *status = img_missing_arg(argv, optind);
        return true;
    case '?':
        *status = img_bad_option(argv, optind);
        return true;
    case 'h':
        img_help();
    case IMG_OPT_OBJECT:
        *status = img_refuse_opt("--object");
        return true;
    case IMG_OPT_IMAGE_OPTS:
        *status = img_refuse_opt("--image-opts");
        return true;
    default:
        return false;
    }
}

const char *img_one_filename(int argc, char **argv)
{
    if (optind != argc - 1) {
        img_error_try("Expecting one image file name");
        return NULL;
    }
    return argv[optind];
}

int img_parse_output(const char *s, enum img_output *out)
{
    if (!strcmp(s, "human")) {
        *out = IMG_OUTPUT_HUMAN;
    } else if (!strcmp(s, "json")) {
        *out = IMG_OUTPUT_JSON;
    } else {
        img_error("--output must be used with human or json as argument.");
        return -1;
    }
    return 0;
}

int img_opt_cache(const char *arg, bool src, unsigned *flags)
{
    if (img_cache_flags(arg, flags) < 0) {
        img_error("Invalid %scache option: %s", src ? "source " : "", arg);
        return -1;
    }
    return 0;
}

int img_cache_flags(const char *mode, unsigned *flags)
{
    if (!strcmp(mode, "none") || !strcmp(mode, "off") ||
        !strcmp(mode, "directsync")) {
        *flags = QCOW2_OPEN_NOCACHE;
    } else if (!strcmp(mode, "writeback") || !strcmp(mode, "writethrough")) {
        *flags = 0;
    } else if (!strcmp(mode, "unsafe")) {
        *flags = QCOW2_OPEN_UNSAFE;
    } else {
        return -EINVAL;
    }
    return 0;
}

int img_format_parse(const char *name, enum qcow2_format *out)
{
    if (!strcmp(name, "qcow2")) {
        *out = QCOW2_FORMAT_QCOW2;
    } else if (!strcmp(name, "raw")) {
        *out = QCOW2_FORMAT_RAW;
    } else {
        return -EINVAL;
    }
    return 0;
}

const char *img_format_name(enum qcow2_format f)
{
    return f == QCOW2_FORMAT_RAW ? "raw" : "qcow2";
}

char *img_backing_path(const char *image_path, const char *backing)
{
    const char *slash = strrchr(image_path, '/');
    size_t dlen;
    char *p;

    if (backing[0] == '/' || !slash) {
        return mem_strdup(backing);
    }
    dlen = (size_t)(slash - image_path) + 1;
    p = mem_alloc(dlen + strlen(backing) + 1);
    if (!p) {
        return NULL;
    }
    memcpy(p, image_path, dlen);
    strcpy(p + dlen, backing);
    return p;
}

void img_open_error(const char *path, int ret, const struct err *err,
                    unsigned flags)
{
    struct qcow2_image *img = NULL;
    struct qcow2_info info;
    struct err e2 = {0};

    if (access(path, F_OK) != 0) {
        img_error("Could not open '%s': Could not open '%s': %s", path, path,
                  strerror(errno));
        return;
    }
    if (ret == -ENOENT || ret == -ELOOP) {
        /* The image is there: its backing file is what is missing. */
        if (qcow2_open(path, QCOW2_FORMAT_QCOW2,
                       QCOW2_OPEN_RDONLY | QCOW2_OPEN_NO_BACKING |
                           QCOW2_OPEN_FORCE_SHARE,
                       &img, &e2) == 0) {
            qcow2_get_info(img, &info);
            if (info.backing_file && ret == -ENOENT) {
                char *bp = img_backing_path(path, info.backing_file);

                img_error("Could not open '%s': Could not open backing file: "
                          "Could not open '%s': %s",
                          path, bp ? bp : info.backing_file, strerror(-ret));
                mem_free(bp);
                qcow2_close(img);
                return;
            }
            qcow2_close(img);
        }
    }
    if (ret == -EACCES || ret == -EPERM || ret == -EISDIR) {
        img_error("Could not open '%s': Could not open '%s': %s", path, path,
                  strerror(-ret));
        return;
    }
    if (ret == -EBUSY) {
        img_error("Could not open '%s': Failed to get %s\"write\" lock", path,
                  (flags & QCOW2_OPEN_RDONLY) ? "shared " : "");
        fprintf(stderr, "Is another process using the image [%s]?\n", path);
        return;
    }
    img_error("Could not open '%s': %s", path,
              err && err->msg[0] ? err->msg : strerror(-ret));
}

int img_open(const char *path, const char *fmt, unsigned flags,
             struct qcow2_image **out)
{
    enum qcow2_format f = QCOW2_FORMAT_RAW;
    enum qcow2_format probed_fmt;
    struct err err = {0};
    bool probed = false;
    int ret;

    if ((flags & QCOW2_OPEN_FORCE_SHARE) && !(flags & QCOW2_OPEN_RDONLY)) {
        img_error("Could not open '%s': force-share=on can only be used "
                  "with read-only images",
                  path);
        return -1;
    }
    if (fmt) {
        if (img_format_parse(fmt, &f) < 0) {
            img_error("Could not open '%s': Unknown driver '%s'", path, fmt);
            return -1;
        }
    }
    ret = qcow2_probe(path, &probed_fmt, &err);
    if (ret < 0) {
        img_open_error(path, ret, &err, flags);
        return -1;
    }
    if (!fmt) {
        f = probed_fmt;
        probed = true;
    } else if (f == QCOW2_FORMAT_QCOW2 && probed_fmt != QCOW2_FORMAT_QCOW2) {
        img_error("Could not open '%s': Image is not in qcow2 format", path);
        return -1;
    }
    ret = qcow2_open(path, f, flags, out, &err);
    if (ret < 0) {
        img_open_error(path, ret, &err, flags);
        return -1;
    }
    if (probed && f == QCOW2_FORMAT_RAW && !(flags & QCOW2_OPEN_RDONLY)) {
        fflush(stdout);
        fprintf(stderr,
                "WARNING: Image format was not specified for '%s' and "
                "probing guessed raw.\n"
                "         Automatically detecting the format is dangerous "
                "for raw images, write operations on block 0 will be "
                "restricted.\n"
                "         Specify the 'raw' format explicitly to remove the "
                "restrictions.\n",
                path);
    }
    return 0;
}

int img_target_check(const char *path, const char *prefix)
{
    struct qcow2_image *img = NULL;
    struct err err = {0};
    int ret;

    if (access(path, F_OK) != 0) {
        return 0;
    }
    /* A raw read-write open takes the write lock and writes nothing. */
    ret = qcow2_open(path, QCOW2_FORMAT_RAW, QCOW2_OPEN_NO_BACKING, &img, &err);
    if (ret == -EBUSY) {
        img_error("%sFailed to get \"write\" lock", prefix);
        fprintf(stderr, "Is another process using the image [%s]?\n", path);
        return -1;
    }
    qcow2_close(img);
    return 0;
}

static int img_kv_push(struct img_kvlist *l, char *key, char *val)
{
    struct img_kv *nv = mem_realloc(l->v, (l->n + 1) * sizeof(*nv));

    if (!nv) {
        mem_free(key);
        mem_free(val);
        return -ENOMEM;
    }
    l->v = nv;
    l->v[l->n].key = key;
    l->v[l->n].val = val;
    l->n++;
    return 0;
}

/* Copy @s up to an unescaped ',' (",," is a literal comma) or @stop. */
static char *img_kv_token(const char **sp, char stop)
{
    const char *s = *sp;
    size_t cap = strlen(s) + 1;
    char *dst = mem_alloc(cap);
    size_t n = 0;

    if (!dst) {
        return NULL;
    }
    while (*s) {
        if (*s == ',') {
            if (s[1] == ',') {
                dst[n++] = ',';
                s += 2;
                continue;
            }
            break;
        }
        if (stop && *s == stop) {
            break;
        }
        dst[n++] = *s++;
    }
    dst[n] = '\0';
    *sp = s;
    return dst;
}

int img_kv_parse(struct img_kvlist *l, const char *s)
{
    while (*s) {
        char *key;
        char *val = NULL;

        key = img_kv_token(&s, '=');
        if (!key) {
            return -ENOMEM;
        }
        if (*s == '=') {
            s++;
            val = img_kv_token(&s, 0);
            if (!val) {
                mem_free(key);
                return -ENOMEM;
            }
        }
        if (*s == ',') {
            s++;
        }
        if (img_kv_push(l, key, val) < 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

const char *img_kv_get(const struct img_kvlist *l, const char *key, bool *found)
{
    size_t i = l->n;

    while (i-- > 0) {
        if (!strcmp(l->v[i].key, key)) {
            if (found) {
                *found = true;
            }
            return l->v[i].val;
        }
    }
    if (found) {
        *found = false;
    }
    return NULL;
}

bool img_kv_has_help(const struct img_kvlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (!l->v[i].val &&
            (!strcmp(l->v[i].key, "help") || !strcmp(l->v[i].key, "?"))) {
            return true;
        }
    }
    return false;
}

void img_kv_fini(struct img_kvlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        mem_free(l->v[i].key);
        mem_free(l->v[i].val);
    }
    mem_free(l->v);
    l->v = NULL;
    l->n = 0;
}

int img_parse_bool(const char *prefix, const char *key, const char *val,
                   bool *out)
{
    if (val && (!strcmp(val, "on") || !strcmp(val, "yes") ||
                !strcmp(val, "true") || !strcmp(val, "y"))) {
        *out = true;
        return 0;
    }
    if (val && (!strcmp(val, "off") || !strcmp(val, "no") ||
                !strcmp(val, "false") || !strcmp(val, "n"))) {
        *out = false;
        return 0;
    }
    img_error("%sParameter '%s' expects 'on' or 'off'", prefix, key);
    return -1;
}

static struct {
    bool enabled;
    float current;
    float last_print;
    float min_skip;
} img_progress;

void img_progress_init(bool enabled, float min_skip)
{
    img_progress.enabled = enabled;
    img_progress.current = 0;
    img_progress.last_print = 0;
    img_progress.min_skip = min_skip;
}

void img_progress_print(float delta, int max)
{
    float current;

    if (max == 0) {
        current = delta;
    } else {
        current = img_progress.current + delta / 100 * (float)max;
    }
    if (current > 100) {
        current = 100;
    }
    img_progress.current = current;
    if (current > img_progress.last_print + img_progress.min_skip ||
        current < img_progress.last_print - img_progress.min_skip ||
        current == 0 || current == 100) {
        img_progress.last_print = current;
        if (img_progress.enabled) {
            printf("    (%3.2f/100%%)\r", (double)current);
            fflush(stdout);
        }
    }
}

void img_progress_end(void)
{
    if (img_progress.enabled) {
        printf("\n");
    }
}

/*
 * Resolve -l (ID_OR_NAME, or snapshot.id=,snapshot.name=) on @img to a
 * snapshot id. Returns a new string (mem_free), or NULL after printing.
 */
static char *img_snapshot_id(struct qcow2_image *img, const char *param)
{
    struct img_kvlist kv = {0};
    const char *want_id = NULL;
    const char *want_name = NULL;
    struct qcow2_snapshot_info *sn = NULL;
    size_t cnt, n, i;
    char *id = NULL;
    int pass;

    if (!strncmp(param, "snapshot.", 9)) {
        if (img_kv_parse(&kv, param) < 0) {
            img_oom();
        }
        for (i = 0; i < kv.n; i++) {
            if (!strcmp(kv.v[i].key, "snapshot.id") && kv.v[i].val) {
                want_id = kv.v[i].val;
            } else if (!strcmp(kv.v[i].key, "snapshot.name") && kv.v[i].val) {
                want_name = kv.v[i].val;
            } else {
                img_error("Invalid parameter '%s'", kv.v[i].key);
                img_error("Failed in parsing snapshot param '%s'", param);
                goto out;
            }
        }
    }
    cnt = qcow2_snapshot_list(img, NULL, 0);
    sn = mem_calloc(cnt ? cnt : 1, sizeof(*sn));
    if (!sn) {
        img_oom();
    }
    n = qcow2_snapshot_list(img, sn, cnt);
    if (n > cnt) {
        n = cnt;
    }
    /* A bare argument is an id first, then a name (as QEMU). */
    for (pass = 0; pass < 2 && !id; pass++) {
        for (i = 0; i < n && !id; i++) {
            bool match;

            if (want_id || want_name) {
                match = pass == 0 && (!want_id || !strcmp(sn[i].id, want_id)) &&
                        (!want_name || !strcmp(sn[i].name, want_name));
            } else {
                match = !strcmp(pass == 0 ? sn[i].id : sn[i].name, param);
            }
            if (match) {
                id = mem_strdup(sn[i].id);
                if (!id) {
                    img_oom();
                }
            }
        }
    }
    if (!id) {
        img_error("Failed to load snapshot: Can't find snapshot");
    }
out:
    mem_free(sn);
    img_kv_fini(&kv);
    return id;
}

int img_load_snapshot(struct qcow2_image *img, const char *param)
{
    struct err err = {0};
    char *id;
    int ret;

    if (qcow2_format_of(img) != QCOW2_FORMAT_QCOW2) {
        img_error("Failed to load snapshot: Block format 'raw' used by "
                  "device '' does not support temporarily loading internal "
                  "snapshots");
        return -1;
    }
    id = img_snapshot_id(img, param);
    if (!id) {
        return -1;
    }
    ret = qcow2_snapshot_load_tmp(img, id, &err);
    if (ret < 0) {
        img_error("Failed to load snapshot: %s", err.msg);
    }
    mem_free(id);
    return ret < 0 ? -1 : 0;
}
