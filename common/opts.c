/* SPDX-License-Identifier: MIT */
/*
 * common/opts.c - QemuOpts-style option lists: split, unescape, check keys
 * and values, and keep QEMU's short-form boolean warnings for the caller.
 */
#include "common/opts.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

/* Items per option string: QEMU has no limit; 256 covers any real use. */
#define OPTS_MAX_ITEMS 256

struct opts_item {
    char *key;
    char *value;
};

struct opts_warn {
    char *msg;
    char *hint;
};

struct opts {
    struct opts_item *items;
    size_t n, cap;
    struct opts_warn *warns;
    size_t nb_warns;
    bool help;
};

static char *str_fmt(const char *fmt, const char *a, const char *b)
{
    size_t len = strlen(fmt) + strlen(a) + strlen(b) + 1;
    char *s = mem_alloc(len);

    if (s) {
        snprintf(s, len, fmt, a, b);
    }
    return s;
}

static int item_add(struct opts *o, char *key, char *value)
{
    if (!key || !value) {
        goto fail;
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 8;
        struct opts_item *n;

        if (cap > OPTS_MAX_ITEMS) {
            mem_free(key);
            mem_free(value);
            return -ERANGE;
        }
        n = mem_realloc(o->items, cap * sizeof(*n));
        if (!n) {
            goto fail;
        }
        o->items = n;
        o->cap = cap;
    }
    o->items[o->n].key = key;
    o->items[o->n].value = value;
    o->n++;
    return 0;
fail:
    mem_free(key);
    mem_free(value);
    return -ENOMEM;
}

static int warn_add(struct opts *o, const char *prefix, const char *name,
                    const char *value)
{
    struct opts_warn *w;
    char *msg, *hint;

    w = mem_realloc(o->warns, (o->nb_warns + 1) * sizeof(*w));
    if (!w) {
        return -ENOMEM;
    }
    o->warns = w;
    msg = str_fmt("short-form boolean option '%s%s' deprecated", prefix, name);
    if (!strcmp(name, "delay")) {
        /* QEMU's socket chardev calls it "delay"; users write nodelay. */
        hint = str_fmt("Please use nodelay=%s%s instead",
                       prefix[0] ? "on" : "off", "");
    } else {
        hint = str_fmt("Please use %s=%s instead", name, value);
    }
    if (!msg || !hint) {
        mem_free(msg);
        mem_free(hint);
        return -ENOMEM;
    }
    o->warns[o->nb_warns].msg = msg;
    o->warns[o->nb_warns].hint = hint;
    o->nb_warns++;
    return 0;
}

/* Copy the value at @p up to an unescaped ',' or the end; ",," is ','. */
static const char *value_get(const char *p, char **out)
{
    size_t len = 0;
    const char *q;
    char *v;

    for (q = p; *q; q++) {
        if (*q == ',') {
            if (q[1] != ',') {
                break;
            }
            q++;
        }
        len++;
    }
    v = mem_alloc(len + 1);
    *out = v;
    if (!v) {
        return q;
    }
    len = 0;
    for (q = p; *q; q++) {
        if (*q == ',') {
            if (q[1] != ',') {
                break;
            }
            q++;
        }
        v[len++] = *q;
    }
    v[len] = '\0';
    return q;
}

static char *name_get(const char *p, size_t len)
{
    char *n = mem_alloc(len + 1);

    if (n) {
        memcpy(n, p, len);
        n[len] = '\0';
    }
    return n;
}

static bool is_help(const char *s)
{
    return !strcmp(s, "help") || !strcmp(s, "?");
}

bool opts_id_wellformed(const char *id)
{
    if (!isalpha((unsigned char)id[0])) {
        return false;
    }
    for (const char *p = id + 1; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("-._", *p)) {
            return false;
        }
    }
    return true;
}

int opts_parse_bool(const char *name, const char *v, bool *out, struct err *err)
{
    if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") ||
        !strcmp(v, "y")) {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") ||
        !strcmp(v, "n")) {
        *out = false;
        return 0;
    }
    return err_set(err, -EINVAL, "Parameter '%s' expects 'on' or 'off'", name);
}

int opts_parse_number(const char *name, const char *v, uint64_t *out,
                      struct err *err)
{
    unsigned long long n;
    char *end;

    errno = 0;
    n = strtoull(v, &end, 0);
    if (errno || end == v || *end || v[0] == '-') {
        return err_set(err, -EINVAL, "Parameter '%s' expects a number", name);
    }
    *out = n;
    return 0;
}

int opts_parse_size(const char *name, const char *v, uint64_t *out,
                    struct err *err)
{
    static const char suffixes[] = "BKMGTPE";
    unsigned long long n;
    const char *s;
    char *end;
    unsigned shift = 0;

    errno = 0;
    n = strtoull(v, &end, 10);
    if (end == v || v[0] == '-') {
        goto bad;
    }
    if (*end) {
        s = strchr(suffixes, toupper((unsigned char)*end));
        if (!s || end[1]) {
            goto bad;
        }
        shift = 10 * (unsigned)(s - suffixes);
    }
    if (errno || (shift && n > (UINT64_MAX >> shift))) {
        return err_set(err, -EINVAL,
                       "Parameter '%s' expects a non-negative number below "
                       "2^64",
                       name);
    }
    *out = (uint64_t)n << shift;
    return 0;
bad:
    return err_set(err, -EINVAL, "Parameter '%s' expects a size", name);
}

static const struct opts_desc *desc_find(const struct opts_list *list,
                                         const char *key)
{
    for (const struct opts_desc *d = list->desc; d && d->name; d++) {
        if (!strcmp(d->name, key)) {
            return d;
        }
    }
    return NULL;
}

static int item_check(const struct opts_list *list, const char *key,
                      const char *value, struct err *err)
{
    const struct opts_desc *d;
    uint64_t n;
    bool b;

    if (!strcmp(key, "id")) {
        if (!opts_id_wellformed(value)) {
            return err_set(err, -EINVAL,
                           "Parameter 'id' expects an identifier");
        }
        return 0;
    }
    if (!list->desc) {
        return 0;
    }
    d = desc_find(list, key);
    if (!d) {
        return err_set(err, -EINVAL, "Invalid parameter '%s'", key);
    }
    switch (d->type) {
    case OPTS_BOOL:
        return opts_parse_bool(key, value, &b, err);
    case OPTS_NUMBER:
        return opts_parse_number(key, value, &n, err);
    case OPTS_SIZE:
        return opts_parse_size(key, value, &n, err);
    case OPTS_STRING:
        break;
    }
    return 0;
}

int opts_parse(const struct opts_list *list, const char *params, unsigned flags,
               struct opts **out, struct err *err)
{
    struct opts *o;
    const char *p = params;
    bool first = true;
    int ret = 0;

    CHECK_ARG(list && params && out);
    if (strlen(params) > OPTS_MAX_LEN) {
        return err_set(err, -ERANGE, "option string longer than %u bytes",
                       OPTS_MAX_LEN);
    }
    o = mem_calloc(1, sizeof(*o));
    if (!o) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    while (*p) {
        size_t len = strcspn(p, "=,");
        char *key = NULL, *value = NULL;

        if (p[len] != '=') {
            if (first && list->implied) {
                key = mem_strdup(list->implied);
                p = value_get(p, &value);
                if (value && is_help(value)) {
                    o->help = true;
                }
            } else {
                const char *prefix = "";
                bool help;

                key = name_get(p, len);
                p += len;
                if (key && !strncmp(key, "no", 2)) {
                    memmove(key, key + 2, strlen(key + 2) + 1);
                    value = mem_strdup("off");
                    prefix = "no";
                } else {
                    value = mem_strdup("on");
                }
                help = key && !prefix[0] && is_help(key);
                if (help) {
                    o->help = true;
                    mem_free(key);
                    mem_free(value);
                    goto next;
                }
                if (key && value && (flags & OPTS_WARN_FLAGS)) {
                    ret = warn_add(o, prefix, key, value);
                    if (ret < 0) {
                        mem_free(key);
                        mem_free(value);
                        goto fail;
                    }
                }
            }
        } else {
            key = name_get(p, len);
            p = value_get(p + len + 1, &value);
        }
        if (key && value) {
            ret = item_check(list, key, value, err);
            if (ret < 0) {
                mem_free(key);
                mem_free(value);
                goto out;
            }
        }
        ret = item_add(o, key, value);
        if (ret < 0) {
            goto fail;
        }
    next:
        first = false;
        if (*p == ',') {
            p++;
        }
    }
    *out = o;
    return 0;
fail:
    if (ret == -ERANGE) {
        err_set(err, ret, "more than %u parameters", OPTS_MAX_ITEMS);
    } else {
        err_set(err, ret, "out of memory");
    }
out:
    opts_free(o);
    return ret;
}

void opts_free(struct opts *o)
{
    if (!o) {
        return;
    }
    for (size_t i = 0; i < o->n; i++) {
        mem_free(o->items[i].key);
        mem_free(o->items[i].value);
    }
    for (size_t i = 0; i < o->nb_warns; i++) {
        mem_free(o->warns[i].msg);
        mem_free(o->warns[i].hint);
    }
    mem_free(o->items);
    mem_free(o->warns);
    mem_free(o);
}

size_t opts_count(const struct opts *o)
{
    return o ? o->n : 0;
}

const char *opts_key(const struct opts *o, size_t i)
{
    return o && i < o->n ? o->items[i].key : NULL;
}

const char *opts_value(const struct opts *o, size_t i)
{
    return o && i < o->n ? o->items[i].value : NULL;
}

const char *opts_get(const struct opts *o, const char *key)
{
    if (!o) {
        return NULL;
    }
    for (size_t i = o->n; i-- > 0;) {
        if (!strcmp(o->items[i].key, key)) {
            return o->items[i].value;
        }
    }
    return NULL;
}

bool opts_help_wanted(const struct opts *o)
{
    return o && o->help;
}

int opts_get_bool(const struct opts *o, const char *key, bool dflt, bool *out,
                  struct err *err)
{
    const char *v = opts_get(o, key);

    if (!v) {
        *out = dflt;
        return 0;
    }
    return opts_parse_bool(key, v, out, err);
}

int opts_get_number(const struct opts *o, const char *key, uint64_t dflt,
                    uint64_t *out, struct err *err)
{
    const char *v = opts_get(o, key);

    if (!v) {
        *out = dflt;
        return 0;
    }
    return opts_parse_number(key, v, out, err);
}

int opts_get_size(const struct opts *o, const char *key, uint64_t dflt,
                  uint64_t *out, struct err *err)
{
    const char *v = opts_get(o, key);

    if (!v) {
        *out = dflt;
        return 0;
    }
    return opts_parse_size(key, v, out, err);
}

size_t opts_nb_warnings(const struct opts *o)
{
    return o ? o->nb_warns : 0;
}

const char *opts_warning(const struct opts *o, size_t i, const char **hint)
{
    if (!o || i >= o->nb_warns) {
        return NULL;
    }
    if (hint) {
        *hint = o->warns[i].hint;
    }
    return o->warns[i].msg;
}
