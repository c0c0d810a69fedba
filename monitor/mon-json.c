/* SPDX-License-Identifier: MIT */
/*
 * monitor/mon-json.c - JSON values, QEMU's JSON dialect (streaming lexer,
 * single-quoted strings, limits with one error then resynchronisation) and
 * QEMU's output layout (ASCII only, upper-case \uXXXX, pretty mode).
 */
#include "monitor/mon-int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

/* ---- output buffer ---- */

static bool buf_reserve(struct mon_buf *b, size_t extra)
{
    size_t cap;
    char *p;

    if (b->oom) {
        return false;
    }
    if (b->len + extra + 1 <= b->cap) {
        return true;
    }
    cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        cap *= 2;
    }
    p = mem_realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void mon_buf_put(struct mon_buf *b, const char *src, size_t src_len)
{
    if (!buf_reserve(b, src_len)) {
        return;
    }
    memcpy(b->p + b->len, src, src_len);
    b->len += src_len;
    b->p[b->len] = 0;
}

void mon_buf_puts(struct mon_buf *b, const char *s)
{
    mon_buf_put(b, s, strlen(s));
}

void mon_buf_putc(struct mon_buf *b, char c)
{
    mon_buf_put(b, &c, 1);
}

void mon_buf_vprintf(struct mon_buf *b, const char *fmt, va_list ap)
{
    va_list aq;
    int n;

    va_copy(aq, ap);
    n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0 || !buf_reserve(b, (size_t)n)) {
        return;
    }
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void mon_buf_printf(struct mon_buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    mon_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void mon_buf_fini(struct mon_buf *b)
{
    mem_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

/* ---- values ---- */

static struct mon_json *json_new(enum mon_json_type type)
{
    struct mon_json *v = mem_calloc(1, sizeof(*v));

    if (v) {
        v->type = type;
    }
    return v;
}

struct mon_json *mon_json_null_new(void)
{
    return json_new(MON_JSON_NULL);
}

struct mon_json *mon_json_bool_new(bool v)
{
    struct mon_json *j = json_new(MON_JSON_BOOL);

    if (j) {
        j->u.b = v;
    }
    return j;
}

struct mon_json *mon_json_int_new(int64_t v)
{
    struct mon_json *j = json_new(MON_JSON_INT);

    if (j) {
        j->u.i = v;
    }
    return j;
}

struct mon_json *mon_json_uint_new(uint64_t v)
{
    struct mon_json *j = json_new(MON_JSON_INT);

    if (j) {
        j->is_uint = v > INT64_MAX;
        if (j->is_uint) {
            j->u.u = v;
        } else {
            j->u.i = (int64_t)v;
        }
    }
    return j;
}

struct mon_json *mon_json_number_new(double v)
{
    struct mon_json *j = json_new(MON_JSON_NUMBER);

    if (j) {
        j->u.d = v;
    }
    return j;
}

static struct mon_json *str_new_take(char *s)
{
    struct mon_json *j;

    if (!s) {
        return NULL;
    }
    j = json_new(MON_JSON_STRING);
    if (!j) {
        mem_free(s);
        return NULL;
    }
    j->u.s = s;
    return j;
}

struct mon_json *mon_json_str_new(const char *s)
{
    return str_new_take(mem_strdup(s ? s : ""));
}

struct mon_json *mon_json_array_new(void)
{
    return json_new(MON_JSON_ARRAY);
}

struct mon_json *mon_json_object_new(void)
{
    return json_new(MON_JSON_OBJECT);
}

void mon_json_free(struct mon_json *v)
{
    size_t i;

    if (!v) {
        return;
    }
    if (v->type == MON_JSON_STRING) {
        mem_free(v->u.s);
    } else if (v->type == MON_JSON_ARRAY || v->type == MON_JSON_OBJECT) {
        for (i = 0; i < v->u.c.n; i++) {
            mon_json_free(v->u.c.items[i]);
            if (v->u.c.keys) {
                mem_free(v->u.c.keys[i]);
            }
        }
        mem_free(v->u.c.items);
        mem_free(v->u.c.keys);
    }
    mem_free(v);
}

static int container_grow(struct mon_json *c)
{
    size_t cap = c->u.c.cap ? c->u.c.cap * 2 : 4;
    struct mon_json **items;
    char **keys;

    items = mem_realloc(c->u.c.items, cap * sizeof(*items));
    if (!items) {
        return -ENOMEM;
    }
    c->u.c.items = items;
    if (c->type == MON_JSON_OBJECT) {
        keys = mem_realloc(c->u.c.keys, cap * sizeof(*keys));
        if (!keys) {
            return -ENOMEM;
        }
        c->u.c.keys = keys;
    }
    c->u.c.cap = cap;
    return 0;
}

int mon_json_array_append_take(struct mon_json *arr, struct mon_json *val)
{
    if (!val) {
        return -ENOMEM;
    }
    if (!arr || arr->type != MON_JSON_ARRAY) {
        mon_json_free(val);
        return -EINVAL;
    }
    if (arr->u.c.n == arr->u.c.cap && container_grow(arr) < 0) {
        mon_json_free(val);
        return -ENOMEM;
    }
    arr->u.c.items[arr->u.c.n++] = val;
    return 0;
}

int mon_json_object_set_take(struct mon_json *obj, const char *key,
                             struct mon_json *val)
{
    char *k;
    size_t i;

    if (!val) {
        return -ENOMEM;
    }
    if (!obj || obj->type != MON_JSON_OBJECT || !key) {
        mon_json_free(val);
        return -EINVAL;
    }
    for (i = 0; i < obj->u.c.n; i++) {
        if (!strcmp(obj->u.c.keys[i], key)) {
            mon_json_free(obj->u.c.items[i]);
            obj->u.c.items[i] = val;
            return 0;
        }
    }
    k = mem_strdup(key);
    if (!k || (obj->u.c.n == obj->u.c.cap && container_grow(obj) < 0)) {
        mem_free(k);
        mon_json_free(val);
        return -ENOMEM;
    }
    obj->u.c.keys[obj->u.c.n] = k;
    obj->u.c.items[obj->u.c.n++] = val;
    return 0;
}

struct mon_json *mon_json_copy(const struct mon_json *v)
{
    struct mon_json *c;
    size_t i;
    int ret;

    if (!v) {
        return NULL;
    }
    if (v->type == MON_JSON_STRING) {
        return mon_json_str_new(v->u.s);
    }
    if (v->type != MON_JSON_ARRAY && v->type != MON_JSON_OBJECT) {
        c = json_new(v->type);
        if (c) {
            *c = *v;
        }
        return c;
    }
    c = json_new(v->type);
    if (!c) {
        return NULL;
    }
    for (i = 0; i < v->u.c.n; i++) {
        if (v->type == MON_JSON_ARRAY) {
            ret = mon_json_array_append_take(c, mon_json_copy(v->u.c.items[i]));
        } else {
            ret = mon_json_object_set_take(c, v->u.c.keys[i],
                                           mon_json_copy(v->u.c.items[i]));
        }
        if (ret < 0) {
            mon_json_free(c);
            return NULL;
        }
    }
    return c;
}

enum mon_json_type mon_json_type(const struct mon_json *v)
{
    return v ? v->type : MON_JSON_NULL;
}

const struct mon_json *mon_json_object_get(const struct mon_json *obj,
                                           const char *key)
{
    size_t i;

    if (!obj || obj->type != MON_JSON_OBJECT) {
        return NULL;
    }
    for (i = 0; i < obj->u.c.n; i++) {
        if (!strcmp(obj->u.c.keys[i], key)) {
            return obj->u.c.items[i];
        }
    }
    return NULL;
}

size_t mon_json_len(const struct mon_json *v)
{
    if (!v || (v->type != MON_JSON_ARRAY && v->type != MON_JSON_OBJECT)) {
        return 0;
    }
    return v->u.c.n;
}

const struct mon_json *mon_json_array_get(const struct mon_json *arr, size_t i)
{
    if (!arr || arr->type != MON_JSON_ARRAY || i >= arr->u.c.n) {
        return NULL;
    }
    return arr->u.c.items[i];
}

const struct mon_json *mon_json_object_at(const struct mon_json *obj, size_t i,
                                          const char **key)
{
    if (!obj || obj->type != MON_JSON_OBJECT || i >= obj->u.c.n) {
        return NULL;
    }
    if (key) {
        *key = obj->u.c.keys[i];
    }
    return obj->u.c.items[i];
}

bool mon_json_int_get(const struct mon_json *v, int64_t *out)
{
    if (!v || v->type != MON_JSON_INT || v->is_uint) {
        return false;
    }
    *out = v->u.i;
    return true;
}

bool mon_json_bool_get(const struct mon_json *v, bool *out)
{
    if (!v || v->type != MON_JSON_BOOL) {
        return false;
    }
    *out = v->u.b;
    return true;
}

const char *mon_json_str_get(const struct mon_json *v)
{
    if (!v || v->type != MON_JSON_STRING) {
        return NULL;
    }
    return v->u.s;
}

static double json_num(const struct mon_json *v)
{
    if (v->type == MON_JSON_NUMBER) {
        return v->u.d;
    }
    return v->is_uint ? (double)v->u.u : (double)v->u.i;
}

bool mon_json_equal(const struct mon_json *a, const struct mon_json *b)
{
    size_t i;

    if (a && b && a->type != b->type &&
        (a->type == MON_JSON_INT || a->type == MON_JSON_NUMBER) &&
        (b->type == MON_JSON_INT || b->type == MON_JSON_NUMBER)) {
        /* 1500.0 prints as 1500 and comes back an integer: same number */
        return json_num(a) == json_num(b);
    }
    if (!a || !b || a->type != b->type) {
        return a == b;
    }
    switch (a->type) {
    case MON_JSON_NULL:
        return true;
    case MON_JSON_BOOL:
        return a->u.b == b->u.b;
    case MON_JSON_INT:
        return a->is_uint == b->is_uint && a->u.u == b->u.u;
    case MON_JSON_NUMBER:
        return a->u.d == b->u.d;
    case MON_JSON_STRING:
        return !strcmp(a->u.s, b->u.s);
    case MON_JSON_ARRAY:
    case MON_JSON_OBJECT:
        if (a->u.c.n != b->u.c.n) {
            return false;
        }
        for (i = 0; i < a->u.c.n; i++) {
            if (a->type == MON_JSON_OBJECT &&
                !mon_json_equal(a->u.c.items[i],
                                mon_json_object_get(b, a->u.c.keys[i]))) {
                return false;
            }
            if (a->type == MON_JSON_ARRAY &&
                !mon_json_equal(a->u.c.items[i], b->u.c.items[i])) {
                return false;
            }
        }
        return true;
    }
    return false;
}

/* ---- output ---- */

/*
 * Decode one modified-UTF-8 code point at @s (at most @n bytes). Returns
 * the code point and sets *@used, or -1 for an invalid sequence (then
 * *@used is the number of bytes to skip).
 */
static int32_t utf8_decode(const unsigned char *s, size_t n, size_t *used)
{
    static const int32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
    int32_t cp;
    size_t len, i;

    *used = 1;
    if (s[0] < 0x80) {
        return s[0];
    }
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return -1;
    }
    for (i = 1; i < len; i++) {
        if (i >= n || (s[i] & 0xC0) != 0x80) {
            *used = i;
            return -1;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *used = len;
    if (len == 2 && s[0] == 0xC0 && s[1] == 0x80) {
        return 0; /* modified UTF-8 NUL */
    }
    if (cp < min_cp[len - 1] || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return -1;
    }
    return cp;
}

void mon_json_print_str(struct mon_buf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str), i = 0, used;
    int32_t cp;

    mon_buf_putc(b, '"');
    while (i < n) {
        cp = utf8_decode(s + i, n - i, &used);
        i += used;
        switch (cp) {
        case '"':
            mon_buf_puts(b, "\\\"");
            break;
        case '\\':
            mon_buf_puts(b, "\\\\");
            break;
        case '\b':
            mon_buf_puts(b, "\\b");
            break;
        case '\f':
            mon_buf_puts(b, "\\f");
            break;
        case '\n':
            mon_buf_puts(b, "\\n");
            break;
        case '\r':
            mon_buf_puts(b, "\\r");
            break;
        case '\t':
            mon_buf_puts(b, "\\t");
            break;
        default:
            if (cp < 0) {
                cp = 0xFFFD;
            }
            if (cp > 0xFFFF) {
                cp -= 0x10000;
                mon_buf_printf(b, "\\u%04X\\u%04X", 0xD800 + (cp >> 10),
                               0xDC00 + (cp & 0x3FF));
            } else if (cp < 0x20 || cp >= 0x7F) {
                mon_buf_printf(b, "\\u%04X", (unsigned)cp);
            } else {
                mon_buf_putc(b, (char)cp);
            }
        }
    }
    mon_buf_putc(b, '"');
}

static void indent(struct mon_buf *b, int level)
{
    int i;

    for (i = 0; i < level; i++) {
        mon_buf_puts(b, "    ");
    }
}

static void print_level(struct mon_buf *b, const struct mon_json *v,
                        bool pretty, int level)
{
    size_t i;
    bool obj;

    switch (v->type) {
    case MON_JSON_NULL:
        mon_buf_puts(b, "null");
        break;
    case MON_JSON_BOOL:
        mon_buf_puts(b, v->u.b ? "true" : "false");
        break;
    case MON_JSON_INT:
        if (v->is_uint) {
            mon_buf_printf(b, "%" PRIu64, v->u.u);
        } else {
            mon_buf_printf(b, "%" PRId64, v->u.i);
        }
        break;
    case MON_JSON_NUMBER:
        mon_buf_printf(b, "%.17g", v->u.d);
        break;
    case MON_JSON_STRING:
        mon_json_print_str(b, v->u.s);
        break;
    case MON_JSON_ARRAY:
    case MON_JSON_OBJECT:
        obj = v->type == MON_JSON_OBJECT;
        mon_buf_putc(b, obj ? '{' : '[');
        for (i = 0; i < v->u.c.n; i++) {
            if (i) {
                mon_buf_puts(b, pretty ? "," : ", ");
            }
            if (pretty) {
                mon_buf_putc(b, '\n');
                indent(b, level + 1);
            }
            if (obj) {
                mon_json_print_str(b, v->u.c.keys[i]);
                mon_buf_puts(b, ": ");
            }
            print_level(b, v->u.c.items[i], pretty, level + 1);
        }
        if (pretty) {
            mon_buf_putc(b, '\n');
            indent(b, level);
        }
        mon_buf_putc(b, obj ? '}' : ']');
        break;
    }
}

void mon_json_print(struct mon_buf *b, const struct mon_json *v, bool pretty)
{
    print_level(b, v, pretty, 0);
}

int mon_json_to_text(const struct mon_json *v, bool pretty, char **out)
{
    struct mon_buf b = {0};

    mon_json_print(&b, v, pretty);
    if (!b.oom && !b.p) {
        mon_buf_puts(&b, "");
    }
    if (b.oom) {
        mon_buf_fini(&b);
        return -ENOMEM;
    }
    *out = b.p;
    return 0;
}

void mon_json_text_free(char *text)
{
    mem_free(text);
}

/* ---- lexer ---- */

enum mon_tok_type {
    TOK_LCURLY,
    TOK_RCURLY,
    TOK_LSQUARE,
    TOK_RSQUARE,
    TOK_COLON,
    TOK_COMMA,
    TOK_STRING,
    TOK_INTEGER,
    TOK_FLOAT,
    TOK_KEYWORD,
    TOK_ERROR,
};

enum lex_state {
    LX_START,
    LX_DQ,
    LX_DQ_ESC,
    LX_SQ,
    LX_SQ_ESC,
    LX_ZERO,
    LX_NEG,
    LX_NONZERO,
    LX_MANT,
    LX_MANT_DIGITS,
    LX_EXP_E,
    LX_EXP_SIGN,
    LX_EXP_DIGITS,
    LX_KEYWORD,
    LX_RECOVERY,
};

void mon_json_stream_init(struct mon_json_stream *st, mon_json_emit_fn *emit,
                          void *opaque)
{
    memset(st, 0, sizeof(*st));
    st->state = LX_START;
    st->max_bytes = MON_JSON_MAX_BYTES;
    st->max_tokens = MON_JSON_MAX_TOKENS;
    st->max_depth = MON_JSON_MAX_DEPTH;
    st->emit = emit;
    st->opaque = opaque;
}

static void stream_clear(struct mon_json_stream *st)
{
    st->len = 0;
    st->tok_off = 0;
    st->ntok = 0;
    st->braces = st->brackets = 0;
    /* keep big buffers from lingering after one huge message */
    if (st->cap > 65536) {
        mem_free(st->buf);
        st->buf = NULL;
        st->cap = 0;
    }
    if (st->tokcap > 4096) {
        mem_free(st->toks);
        st->toks = NULL;
        st->tokcap = 0;
    }
}

void mon_json_stream_reset(struct mon_json_stream *st)
{
    stream_clear(st);
    st->state = LX_START;
    st->recovering = false;
}

void mon_json_stream_fini(struct mon_json_stream *st)
{
    mem_free(st->buf);
    mem_free(st->toks);
    st->buf = NULL;
    st->toks = NULL;
    st->cap = st->tokcap = 0;
}

static int stream_append(struct mon_json_stream *st, char c)
{
    size_t cap;
    char *p;

    if (st->len + 1 >= st->cap) {
        cap = st->cap ? st->cap * 2 : 256;
        p = mem_realloc(st->buf, cap);
        if (!p) {
            return -ENOMEM;
        }
        st->buf = p;
        st->cap = cap;
    }
    st->buf[st->len++] = c;
    return 0;
}

/* ---- parser (token list -> value) ---- */

struct parse_ctx {
    const struct mon_json_stream *st;
    size_t pos;
    char err[256];
    bool failed;
};

static void parse_error(struct parse_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void parse_error(struct parse_ctx *c, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (c->failed) {
        return;
    }
    c->failed = true;
    n = snprintf(c->err, sizeof(c->err), "JSON parse error, ");
    va_start(ap, fmt);
    vsnprintf(c->err + n, sizeof(c->err) - (size_t)n, fmt, ap);
    va_end(ap);
}

static const struct mon_json_tok *peek(struct parse_ctx *c)
{
    return c->pos < c->st->ntok ? &c->st->toks[c->pos] : NULL;
}

static const struct mon_json_tok *next(struct parse_ctx *c)
{
    const struct mon_json_tok *t = peek(c);

    if (t) {
        c->pos++;
    }
    return t;
}

static const char *tok_text(struct parse_ctx *c, const struct mon_json_tok *t)
{
    return c->st->buf + t->off;
}

static int hex4(const char *p)
{
    int v = 0, i, d;

    for (i = 0; i < 4; i++) {
        if (p[i] >= '0' && p[i] <= '9') {
            d = p[i] - '0';
        } else if (p[i] >= 'a' && p[i] <= 'f') {
            d = p[i] - 'a' + 10;
        } else if (p[i] >= 'A' && p[i] <= 'F') {
            d = p[i] - 'A' + 10;
        } else {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

static void utf8_encode(struct mon_buf *b, int32_t cp)
{
    if (cp == 0) {
        mon_buf_put(b, "\xC0\x80", 2);
    } else if (cp < 0x80) {
        mon_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        mon_buf_putc(b, (char)(0xC0 | (cp >> 6)));
        mon_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        mon_buf_putc(b, (char)(0xE0 | (cp >> 12)));
        mon_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        mon_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        mon_buf_putc(b, (char)(0xF0 | (cp >> 18)));
        mon_buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
        mon_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        mon_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    }
}

static struct mon_json *parse_string(struct parse_ctx *c,
                                     const struct mon_json_tok *t)
{
    const char *s = tok_text(c, t);
    const char *end = s + t->len - 1; /* the closing quote */
    const char *p = s + 1, *beg;
    struct mon_buf b = {0};
    int32_t cp, lo;
    size_t used;

    mon_buf_puts(&b, "");
    while (p < end) {
        if (*p != '\\') {
            cp =
                utf8_decode((const unsigned char *)p, (size_t)(end - p), &used);
            if (cp < 0 || (cp == 0 && used == 1)) {
                parse_error(c, "invalid UTF-8 sequence in string");
                goto fail;
            }
            mon_buf_put(&b, p, used);
            p += used;
            continue;
        }
        beg = p;
        p++;
        switch (*p++) {
        case '"':
            mon_buf_putc(&b, '"');
            break;
        case '\'':
            mon_buf_putc(&b, '\'');
            break;
        case '\\':
            mon_buf_putc(&b, '\\');
            break;
        case '/':
            mon_buf_putc(&b, '/');
            break;
        case 'b':
            mon_buf_putc(&b, '\b');
            break;
        case 'f':
            mon_buf_putc(&b, '\f');
            break;
        case 'n':
            mon_buf_putc(&b, '\n');
            break;
        case 'r':
            mon_buf_putc(&b, '\r');
            break;
        case 't':
            mon_buf_putc(&b, '\t');
            break;
        case 'u':
            cp = end - p >= 4 ? hex4(p) : -1;
            if (cp < 0) {
                /* QEMU names the escape and up to 4 bytes after it */
                parse_error(c, "%.*s is not a valid Unicode character",
                            (int)(end - p >= 4 ? 6 : end + 1 - beg), beg);
                goto fail;
            }
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' &&
                p[1] == 'u') {
                lo = hex4(p + 2);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp & 0x3FF) << 10) + (lo & 0x3FF);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) {
                parse_error(c, "%.*s is not a valid Unicode character",
                            (int)(p - beg), beg);
                goto fail;
            }
            utf8_encode(&b, cp);
            break;
        default:
            parse_error(c, "invalid escape sequence in string");
            goto fail;
        }
    }
    if (b.oom) {
        parse_error(c, "out of memory");
        goto fail;
    }
    return str_new_take(b.p);
fail:
    mon_buf_fini(&b);
    return NULL;
}

static struct mon_json *parse_number(struct parse_ctx *c,
                                     const struct mon_json_tok *t)
{
    char tmp[64];
    const char *s = tok_text(c, t);
    char *copy = NULL, *endp;
    struct mon_json *v = NULL;
    long long ll;
    unsigned long long ull;

    if (t->len < sizeof(tmp)) {
        memcpy(tmp, s, t->len);
        tmp[t->len] = 0;
        s = tmp;
    } else {
        copy = mem_alloc(t->len + 1);
        if (!copy) {
            parse_error(c, "out of memory");
            return NULL;
        }
        memcpy(copy, s, t->len);
        copy[t->len] = 0;
        s = copy;
    }
    if (t->type == TOK_INTEGER) {
        errno = 0;
        ll = strtoll(s, &endp, 10);
        if (!errno) {
            v = mon_json_int_new(ll);
            goto out;
        }
        if (s[0] != '-') {
            errno = 0;
            ull = strtoull(s, &endp, 10);
            if (!errno) {
                v = mon_json_uint_new(ull);
                goto out;
            }
        }
    }
    v = mon_json_number_new(strtod(s, NULL));
out:
    mem_free(copy);
    if (!v) {
        parse_error(c, "out of memory");
    }
    return v;
}

static struct mon_json *parse_value(struct parse_ctx *c, int depth);

static struct mon_json *parse_object(struct parse_ctx *c, int depth)
{
    struct mon_json *obj = mon_json_object_new(), *key = NULL, *val;
    const struct mon_json_tok *t;

    if (!obj) {
        parse_error(c, "out of memory");
        return NULL;
    }
    t = peek(c);
    if (t && t->type == TOK_RCURLY) {
        next(c);
        return obj;
    }
    for (;;) {
        t = peek(c);
        key = parse_value(c, depth + 1);
        if (!key) {
            goto fail;
        }
        if (key->type != MON_JSON_STRING) {
            parse_error(c, "key is not a string in object");
            goto fail;
        }
        t = next(c);
        if (!t) {
            parse_error(c, "premature EOI");
            goto fail;
        }
        if (t->type != TOK_COLON) {
            parse_error(c, "missing : in object pair");
            goto fail;
        }
        val = parse_value(c, depth + 1);
        if (!val) {
            goto fail;
        }
        if (mon_json_object_get(obj, key->u.s)) {
            mon_json_free(val);
            parse_error(c, "duplicate key");
            goto fail;
        }
        if (mon_json_object_set_take(obj, key->u.s, val) < 0) {
            parse_error(c, "out of memory");
            goto fail;
        }
        mon_json_free(key);
        key = NULL;
        t = next(c);
        if (!t) {
            parse_error(c, "premature EOI");
            goto fail;
        }
        if (t->type == TOK_RCURLY) {
            return obj;
        }
        if (t->type != TOK_COMMA) {
            parse_error(c, "expected separator in dict");
            goto fail;
        }
    }
fail:
    mon_json_free(key);
    mon_json_free(obj);
    return NULL;
}

static struct mon_json *parse_array(struct parse_ctx *c, int depth)
{
    struct mon_json *arr = mon_json_array_new(), *val;
    const struct mon_json_tok *t;

    if (!arr) {
        parse_error(c, "out of memory");
        return NULL;
    }
    t = peek(c);
    if (t && t->type == TOK_RSQUARE) {
        next(c);
        return arr;
    }
    for (;;) {
        val = parse_value(c, depth + 1);
        if (!val) {
            goto fail;
        }
        if (mon_json_array_append_take(arr, val) < 0) {
            parse_error(c, "out of memory");
            goto fail;
        }
        t = next(c);
        if (!t) {
            parse_error(c, "premature EOI");
            goto fail;
        }
        if (t->type == TOK_RSQUARE) {
            return arr;
        }
        if (t->type != TOK_COMMA) {
            parse_error(c, "expected separator in list");
            goto fail;
        }
    }
fail:
    mon_json_free(arr);
    return NULL;
}

static struct mon_json *parse_value(struct parse_ctx *c, int depth)
{
    const struct mon_json_tok *t = next(c);
    struct mon_json *v;
    const char *s;

    if (!t) {
        parse_error(c, "premature EOI");
        return NULL;
    }
    if (depth > (int)c->st->max_depth + 1) {
        parse_error(c, "nesting too deep");
        return NULL;
    }
    switch (t->type) {
    case TOK_LCURLY:
        return parse_object(c, depth);
    case TOK_LSQUARE:
        return parse_array(c, depth);
    case TOK_STRING:
        return parse_string(c, t);
    case TOK_INTEGER:
    case TOK_FLOAT:
        return parse_number(c, t);
    case TOK_KEYWORD:
        s = tok_text(c, t);
        if (t->len == 4 && !memcmp(s, "true", 4)) {
            v = mon_json_bool_new(true);
        } else if (t->len == 5 && !memcmp(s, "false", 5)) {
            v = mon_json_bool_new(false);
        } else if (t->len == 4 && !memcmp(s, "null", 4)) {
            v = mon_json_null_new();
        } else {
            parse_error(c, "invalid keyword '%.*s'", (int)t->len, s);
            return NULL;
        }
        if (!v) {
            parse_error(c, "out of memory");
        }
        return v;
    default:
        parse_error(c, "expecting value");
        return NULL;
    }
}

/* ---- streamer ---- */

static void stream_emit_msg(struct mon_json_stream *st)
{
    struct parse_ctx c = {.st = st};
    struct mon_json *v = parse_value(&c, 0);

    stream_clear(st);
    if (v) {
        st->emit(st->opaque, v, NULL);
    } else {
        st->emit(st->opaque, NULL, c.err);
    }
}

static void stream_emit_err(struct mon_json_stream *st, const char *msg)
{
    bool open = st->braces > 0 || st->brackets > 0;
    long braces = st->braces, brackets = st->brackets;

    stream_clear(st);
    if (open) {
        st->recovering = true;
        st->braces = braces;
        st->brackets = brackets;
    }
    st->emit(st->opaque, NULL, msg);
}

static void stream_token_error(struct mon_json_stream *st)
{
    size_t n = st->len - st->tok_off;
    char *msg = mem_alloc(n + 32);

    if (!msg) {
        stream_emit_err(st, "JSON parse error, out of memory");
        return;
    }
    snprintf(msg, n + 32, "JSON parse error, stray '%.*s'", (int)n,
             st->buf + st->tok_off);
    st->len = st->tok_off;
    stream_emit_err(st, msg);
    mem_free(msg);
}

static int stream_token(struct mon_json_stream *st, enum mon_tok_type type)
{
    struct mon_json_tok *toks;
    size_t cap;

    switch (type) {
    case TOK_LCURLY:
        st->braces++;
        break;
    case TOK_RCURLY:
        st->braces--;
        break;
    case TOK_LSQUARE:
        st->brackets++;
        break;
    case TOK_RSQUARE:
        st->brackets--;
        break;
    default:
        break;
    }
    if (st->recovering) {
        st->len = st->tok_off;
        if (st->braces <= 0 && st->brackets <= 0) {
            st->recovering = false;
            stream_clear(st);
        }
        return 0;
    }
    if (st->ntok == st->tokcap) {
        cap = st->tokcap ? st->tokcap * 2 : 64;
        toks = mem_realloc(st->toks, cap * sizeof(*toks));
        if (!toks) {
            return -ENOMEM;
        }
        st->toks = toks;
        st->tokcap = cap;
    }
    st->toks[st->ntok].off = (uint32_t)st->tok_off;
    st->toks[st->ntok].len = (uint32_t)(st->len - st->tok_off);
    st->toks[st->ntok].type = (uint8_t)type;
    st->ntok++;
    /* NUL-terminate the token text for the parser */
    if (stream_append(st, 0) < 0) {
        return -ENOMEM;
    }
    st->tok_off = st->len;
    if (st->braces < 0 || st->brackets < 0 ||
        (st->braces == 0 && st->brackets == 0)) {
        stream_emit_msg(st);
    } else if (st->ntok > st->max_tokens) {
        stream_emit_err(st, "JSON token count limit exceeded");
    } else if ((size_t)(st->braces + st->brackets) > st->max_depth) {
        stream_emit_err(st, "JSON nesting depth limit exceeded");
    }
    return 0;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Feed one byte; returns 0, or -ENOMEM. */
static int stream_char(struct mon_json_stream *st, unsigned char c)
{
    int ret;

    for (;;) {
        switch (st->state) {
        case LX_RECOVERY:
            if (c < 0x20 || c >= 0xFE || c == '{' || c == '}' || c == '[' ||
                c == ']') {
                st->state = LX_START;
                continue;
            }
            return 0;
        case LX_START:
            st->tok_off = st->len;
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                return 0;
            }
            if ((ret = stream_append(st, (char)c)) < 0) {
                return ret;
            }
            switch (c) {
            case '"':
                st->state = LX_DQ;
                return 0;
            case '\'':
                st->state = LX_SQ;
                return 0;
            case '0':
                st->state = LX_ZERO;
                return 0;
            case '-':
                st->state = LX_NEG;
                return 0;
            case '{':
                return stream_token(st, TOK_LCURLY);
            case '}':
                return stream_token(st, TOK_RCURLY);
            case '[':
                return stream_token(st, TOK_LSQUARE);
            case ']':
                return stream_token(st, TOK_RSQUARE);
            case ':':
                return stream_token(st, TOK_COLON);
            case ',':
                return stream_token(st, TOK_COMMA);
            default:
                break;
            }
            if (c >= '1' && c <= '9') {
                st->state = LX_NONZERO;
                return 0;
            }
            if (c >= 'a' && c <= 'z') {
                st->state = LX_KEYWORD;
                return 0;
            }
            goto error;
        case LX_DQ:
        case LX_SQ:
            if (c < 0x20 || c >= 0xFE) {
                goto error_append;
            }
            if ((ret = stream_append(st, (char)c)) < 0) {
                return ret;
            }
            if (c == '\\') {
                st->state = st->state == LX_DQ ? LX_DQ_ESC : LX_SQ_ESC;
            } else if ((c == '"' && st->state == LX_DQ) ||
                       (c == '\'' && st->state == LX_SQ)) {
                st->state = LX_START;
                return stream_token(st, TOK_STRING);
            }
            return 0;
        case LX_DQ_ESC:
        case LX_SQ_ESC:
            if (c < 0x20 || c >= 0xFE) {
                goto error_append;
            }
            st->state = st->state == LX_DQ_ESC ? LX_DQ : LX_SQ;
            return stream_append(st, (char)c);
        case LX_ZERO:
            if (is_digit(c)) {
                goto error_append;
            }
            if (c == '.') {
                st->state = LX_MANT;
                return stream_append(st, (char)c);
            }
            st->state = LX_START;
            if ((ret = stream_token(st, TOK_INTEGER)) < 0) {
                return ret;
            }
            continue;
        case LX_NEG:
            if (c == '0') {
                st->state = LX_ZERO;
            } else if (c >= '1' && c <= '9') {
                st->state = LX_NONZERO;
            } else {
                goto error_append;
            }
            return stream_append(st, (char)c);
        case LX_NONZERO:
            if (is_digit(c)) {
                return stream_append(st, (char)c);
            }
            if (c == 'e' || c == 'E') {
                st->state = LX_EXP_E;
                return stream_append(st, (char)c);
            }
            if (c == '.') {
                st->state = LX_MANT;
                return stream_append(st, (char)c);
            }
            st->state = LX_START;
            if ((ret = stream_token(st, TOK_INTEGER)) < 0) {
                return ret;
            }
            continue;
        case LX_MANT:
            if (!is_digit(c)) {
                goto error_append;
            }
            st->state = LX_MANT_DIGITS;
            return stream_append(st, (char)c);
        case LX_MANT_DIGITS:
            if (is_digit(c)) {
                return stream_append(st, (char)c);
            }
            if (c == 'e' || c == 'E') {
                st->state = LX_EXP_E;
                return stream_append(st, (char)c);
            }
            st->state = LX_START;
            if ((ret = stream_token(st, TOK_FLOAT)) < 0) {
                return ret;
            }
            continue;
        case LX_EXP_E:
            if (c == '+' || c == '-') {
                st->state = LX_EXP_SIGN;
                return stream_append(st, (char)c);
            }
            if (!is_digit(c)) {
                goto error_append;
            }
            st->state = LX_EXP_DIGITS;
            return stream_append(st, (char)c);
        case LX_EXP_SIGN:
            if (!is_digit(c)) {
                goto error_append;
            }
            st->state = LX_EXP_DIGITS;
            return stream_append(st, (char)c);
        case LX_EXP_DIGITS:
            if (is_digit(c)) {
                return stream_append(st, (char)c);
            }
            st->state = LX_START;
            if ((ret = stream_token(st, TOK_FLOAT)) < 0) {
                return ret;
            }
            continue;
        case LX_KEYWORD:
            if (c >= 'a' && c <= 'z') {
                return stream_append(st, (char)c);
            }
            st->state = LX_START;
            if ((ret = stream_token(st, TOK_KEYWORD)) < 0) {
                return ret;
            }
            continue;
        default:
            return 0;
        }
    }
error_append:
    if ((ret = stream_append(st, (char)c)) < 0) {
        return ret;
    }
error:
    st->state = LX_RECOVERY;
    if (st->recovering) {
        st->len = st->tok_off;
        return 0;
    }
    stream_token_error(st);
    return 0;
}

int mon_json_stream_feed(struct mon_json_stream *st, const char *src,
                         size_t src_len)
{
    size_t i;
    int ret;

    for (i = 0; i < src_len; i++) {
        ret = stream_char(st, (unsigned char)src[i]);
        if (ret < 0) {
            mon_json_stream_reset(st);
            st->state = LX_RECOVERY;
            return ret;
        }
        if (st->len > st->max_bytes) {
            /* the open token is dropped; skip the rest of it */
            st->len = st->tok_off;
            if (st->state != LX_START) {
                st->state = LX_RECOVERY;
            }
            if (!st->recovering) {
                stream_emit_err(st, "JSON token size limit exceeded");
            } else {
                st->len = 0;
                st->tok_off = 0;
            }
        }
    }
    return 0;
}

/* ---- one-shot parse ---- */

struct parse_one {
    struct mon_json *val;
    char *msg;
    int count;
};

static void parse_one_emit(void *opaque, struct mon_json *val, const char *msg)
{
    struct parse_one *p = opaque;

    if (p->count++) {
        mon_json_free(val);
        return;
    }
    p->val = val;
    if (msg) {
        p->msg = mem_strdup(msg);
    }
}

int mon_json_parse(const char *src, size_t src_len, struct mon_json **out,
                   struct err *err)
{
    struct mon_json_stream st;
    struct parse_one p = {0};
    int ret;

    mon_json_stream_init(&st, parse_one_emit, &p);
    ret = mon_json_stream_feed(&st, src, src_len);
    if (ret == 0) {
        /* flush a trailing number or keyword */
        ret = mon_json_stream_feed(&st, " ", 1);
    }
    mon_json_stream_fini(&st);
    if (ret < 0) {
        ret = err_set(err, ret, "out of memory");
    } else if (!p.count) {
        ret = err_set(err, -EPROTO, "JSON parse error, premature EOI");
    } else if (!p.val) {
        ret = err_set(err, -EPROTO, "%s", p.msg ? p.msg : "out of memory");
    } else if (p.count > 1) {
        ret = err_set(err, -EPROTO, "JSON parse error, trailing input");
    } else {
        *out = p.val;
        p.val = NULL;
    }
    mon_json_free(p.val);
    mem_free(p.msg);
    return ret;
}
