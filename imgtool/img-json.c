/* SPDX-License-Identifier: MIT */
/*
 * imgtool/img-json.c - a tiny JSON tree printed exactly as QEMU's
 * qobject_to_json_pretty() prints a QDict: 4-space indent, and object keys
 * in QDict bucket order (tdb_hash(key) % 512; within a bucket the last
 * inserted first), which is what qemu-img's output shows.
 */
#include <inttypes.h>
#include <string.h>

#include "common/alloc.h"
#include "imgtool/img.h"

enum img_json_type {
    IMG_JSON_OBJECT,
    IMG_JSON_ARRAY,
    IMG_JSON_INT,
    IMG_JSON_UINT,
    IMG_JSON_STR,
    IMG_JSON_BOOL,
};

struct img_json {
    enum img_json_type type;
    char *key;  /* member name inside an object; NULL otherwise */
    int64_t i;  /* IMG_JSON_INT, IMG_JSON_BOOL */
    uint64_t u; /* IMG_JSON_UINT */
    char *s;    /* IMG_JSON_STR */
    struct img_json **kids;
    size_t n, cap; /* entries in kids */
};

/* QDict's bucket count (qobject/qdict.c). */
#define IMG_QDICT_BUCKETS 512

static unsigned img_json_bucket(const char *name)
{
    unsigned value = 0x238F13AFu * (unsigned)strlen(name);
    unsigned i;

    for (i = 0; name[i]; i++) {
        value += (unsigned)((const unsigned char *)name)[i] << (i * 5 % 24);
    }
    return (1103515243u * value + 12345u) % IMG_QDICT_BUCKETS;
}

static struct img_json *img_json_new(enum img_json_type t)
{
    struct img_json *j = mem_calloc(1, sizeof(*j));

    if (!j) {
        img_oom();
    }
    j->type = t;
    return j;
}

struct img_json *img_json_object(void)
{
    return img_json_new(IMG_JSON_OBJECT);
}

struct img_json *img_json_array(void)
{
    return img_json_new(IMG_JSON_ARRAY);
}

static void img_json_push(struct img_json *p, struct img_json *c)
{
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 8;
        struct img_json **nk = mem_realloc(p->kids, ncap * sizeof(*nk));

        if (!nk) {
            img_oom();
        }
        p->kids = nk;
        p->cap = ncap;
    }
    p->kids[p->n++] = c;
}

void img_json_set(struct img_json *o, const char *key, struct img_json *child)
{
    child->key = mem_strdup(key);
    if (!child->key) {
        img_oom();
    }
    img_json_push(o, child);
}

void img_json_append(struct img_json *a, struct img_json *child)
{
    img_json_push(a, child);
}

void img_json_set_int(struct img_json *o, const char *key, int64_t v)
{
    struct img_json *j = img_json_new(IMG_JSON_INT);

    j->i = v;
    img_json_set(o, key, j);
}

void img_json_set_uint(struct img_json *o, const char *key, uint64_t v)
{
    struct img_json *j = img_json_new(IMG_JSON_UINT);

    j->u = v;
    img_json_set(o, key, j);
}

struct img_json *img_json_uint(uint64_t v)
{
    struct img_json *j = img_json_new(IMG_JSON_UINT);

    j->u = v;
    return j;
}

void img_json_set_bool(struct img_json *o, const char *key, bool v)
{
    struct img_json *j = img_json_new(IMG_JSON_BOOL);

    j->i = v;
    img_json_set(o, key, j);
}

struct img_json *img_json_str(const char *v)
{
    struct img_json *j = img_json_new(IMG_JSON_STR);

    j->s = mem_strdup(v);
    if (!j->s) {
        img_oom();
    }
    return j;
}

void img_json_set_str(struct img_json *o, const char *key, const char *v)
{
    img_json_set(o, key, img_json_str(v));
}

/* Decode one UTF-8 sequence; invalid input yields U+FFFD for one byte. */
static unsigned img_utf8_next(const unsigned char **sp)
{
    const unsigned char *s = *sp;
    unsigned cp;
    int len;
    int k;

    if (s[0] < 0x80) {
        *sp = s + 1;
        return s[0];
    }
    if ((s[0] & 0xe0) == 0xc0) {
        cp = s[0] & 0x1f;
        len = 2;
    } else if ((s[0] & 0xf0) == 0xe0) {
        cp = s[0] & 0x0f;
        len = 3;
    } else if ((s[0] & 0xf8) == 0xf0) {
        cp = s[0] & 0x07;
        len = 4;
    } else {
        *sp = s + 1;
        return 0xfffd;
    }
    for (k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80) {
            *sp = s + 1;
            return 0xfffd;
        }
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    *sp = s + len;
    return cp;
}

static void img_json_str_out(const char *str, FILE *f)
{
    const unsigned char *s = (const unsigned char *)str;

    fputc('"', f);
    while (*s) {
        unsigned cp = img_utf8_next(&s);

        switch (cp) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\b':
            fputs("\\b", f);
            break;
        case '\f':
            fputs("\\f", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (cp >= 0x20 && cp < 0x7f) {
                fputc((int)cp, f);
            } else if (cp > 0xffff) {
                cp -= 0x10000;
                fprintf(f, "\\u%04X\\u%04X", 0xd800 | (cp >> 10),
                        0xdc00 | (cp & 0x3ff));
            } else {
                fprintf(f, "\\u%04X", cp);
            }
            break;
        }
    }
    fputc('"', f);
}

static void img_json_out(const struct img_json *j, FILE *f, int level);

static void img_json_container_out(const struct img_json *j, FILE *f, int level)
{
    const struct img_json **order;
    size_t i;

    order = mem_alloc((j->n ? j->n : 1) * sizeof(*order));
    if (!order) {
        img_oom();
    }
    for (i = 0; i < j->n; i++) {
        order[i] = j->kids[i];
    }
    if (j->type == IMG_JSON_OBJECT) {
        /* Insertion sort by bucket; later insertions first within one. */
        for (i = 1; i < j->n; i++) {
            const struct img_json *c = order[i];
            unsigned b = img_json_bucket(c->key);
            size_t k = i;

            while (k > 0 && img_json_bucket(order[k - 1]->key) >= b) {
                order[k] = order[k - 1];
                k--;
            }
            order[k] = c;
        }
    }
    fputc(j->type == IMG_JSON_OBJECT ? '{' : '[', f);
    for (i = 0; i < j->n; i++) {
        fprintf(f, "%s\n%*s", i ? "," : "", 4 * (level + 1), "");
        if (j->type == IMG_JSON_OBJECT) {
            img_json_str_out(order[i]->key, f);
            fputs(": ", f);
        }
        img_json_out(order[i], f, level + 1);
    }
    fprintf(f, "\n%*s%c", 4 * level, "",
            j->type == IMG_JSON_OBJECT ? '}' : ']');
    mem_free(order);
}

static void img_json_out(const struct img_json *j, FILE *f, int level)
{
    switch (j->type) {
    case IMG_JSON_OBJECT:
    case IMG_JSON_ARRAY:
        img_json_container_out(j, f, level);
        break;
    case IMG_JSON_INT:
        fprintf(f, "%" PRId64, j->i);
        break;
    case IMG_JSON_UINT:
        fprintf(f, "%" PRIu64, j->u);
        break;
    case IMG_JSON_STR:
        img_json_str_out(j->s, f);
        break;
    case IMG_JSON_BOOL:
        fputs(j->i ? "true" : "false", f);
        break;
    }
}

void img_json_print(const struct img_json *j, FILE *f)
{
    img_json_out(j, f, 0);
    fputc('\n', f);
}

void img_json_free(struct img_json *j)
{
    size_t i;

    if (!j) {
        return;
    }
    for (i = 0; i < j->n; i++) {
        img_json_free(j->kids[i]);
    }
    mem_free(j->kids);
    mem_free(j->key);
    mem_free(j->s);
    mem_free(j);
}
