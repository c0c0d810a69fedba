/* SPDX-License-Identifier: MIT */
/*
 * monitor/mon-hmp.c - the human monitor: command lines parsed as QEMU's
 * monitor/hmp.c does (args_type specs, /fmt, integer expressions with
 * $registers, quoted strings, -flags), QEMU's error texts, help, info,
 * command-name completion, and HMP sessions on top of mon-readline.c.
 */
#include "monitor/mon-int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

/* Longest string argument (QEMU's get_str buffer is 1024 bytes). */
#define HMP_MAX_STR 1024
/* Longest $register name (QEMU: 128-byte buffer). */
#define HMP_MAX_REG 128
/* Deepest parenthesis/unary nesting in an expression. */
#define HMP_MAX_EXPR_DEPTH 256
/* Arguments considered for completion. */
#define HMP_MAX_COMPL_ARGS 64

static bool hmp_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/* ---- args_type specs ---- */

struct hmp_arg {
    char key[64];
    char type;     /* s S F B i l M o b / - */
    char flag;     /* for '-' */
    bool optional; /* '?' */
};

/* Parse the next "key:type" of @*spec into @a; false at the end. */
static int spec_next(const char **spec, struct hmp_arg *a, struct err *err)
{
    const char *p = *spec, *colon;
    size_t n;

    if (!*p) {
        return 0;
    }
    colon = strchr(p, ':');
    if (!colon || colon == p || (size_t)(colon - p) >= sizeof(a->key)) {
        return err_set(err, -EINVAL, "HMP spec '%s': expected key:type", p);
    }
    n = (size_t)(colon - p);
    memcpy(a->key, p, n);
    a->key[n] = 0;
    p = colon + 1;
    a->type = *p++;
    a->flag = 0;
    if (!a->type || !strchr("sSFBilMob/-", a->type)) {
        return err_set(err, -EINVAL, "HMP spec '%s': bad type", *spec);
    }
    if (a->type == '-') {
        a->flag = *p++;
        if (!a->flag || a->flag == ',') {
            return err_set(err, -EINVAL, "HMP spec '%s': flag letter missing",
                           *spec);
        }
    }
    a->optional = *p == '?';
    p += a->optional;
    if (*p && *p != ',') {
        return err_set(err, -EINVAL, "HMP spec '%s': junk after type", *spec);
    }
    *spec = *p ? p + 1 : p;
    return 1;
}

int mon_hmp_check_spec(const char *spec, struct err *err)
{
    struct hmp_arg a;
    int ret;

    while ((ret = spec_next(&spec, &a, err)) > 0) {
    }
    return ret;
}

/* ---- expressions (QEMU's grammar and messages) ---- */

struct expr {
    struct mon *mon;
    const char *p;
    char err[160];
    bool failed;
    int depth;
};

static void expr_error(struct expr *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void expr_error(struct expr *e, const char *fmt, ...)
{
    va_list ap;

    if (e->failed) {
        return;
    }
    e->failed = true;
    va_start(ap, fmt);
    vsnprintf(e->err, sizeof(e->err), fmt, ap);
    va_end(ap);
}

static void expr_next(struct expr *e)
{
    if (*e->p) {
        e->p++;
        while (hmp_space(*e->p)) {
            e->p++;
        }
    }
}

static int64_t expr_sum(struct expr *e);

static int64_t expr_unary(struct expr *e)
{
    char reg[HMP_MAX_REG];
    uint64_t rv = 0;
    int64_t n = 0;
    size_t q = 0;
    char *end;

    if (e->failed) {
        return 0;
    }
    if (++e->depth > HMP_MAX_EXPR_DEPTH) {
        expr_error(e, "expression too deeply nested");
        return 0;
    }
    switch (*e->p) {
    case '+':
        expr_next(e);
        n = expr_unary(e);
        break;
    case '-':
        expr_next(e);
        n = (int64_t)(0 - (uint64_t)expr_unary(e));
        break;
    case '~':
        expr_next(e);
        n = ~expr_unary(e);
        break;
    case '(':
        expr_next(e);
        n = expr_sum(e);
        if (*e->p != ')') {
            expr_error(e, "')' expected");
        }
        expr_next(e);
        break;
    case '\'':
        e->p++;
        if (!*e->p) {
            expr_error(e, "character constant expected");
            break;
        }
        n = (unsigned char)*e->p++;
        if (*e->p != '\'') {
            expr_error(e, "missing terminating ' character");
            break;
        }
        expr_next(e);
        break;
    case '$':
        e->p++;
        while (isalnum((unsigned char)*e->p) || *e->p == '_' || *e->p == '.') {
            if (q < sizeof(reg) - 1) {
                reg[q++] = *e->p;
            }
            e->p++;
        }
        reg[q] = 0;
        while (hmp_space(*e->p)) {
            e->p++;
        }
        if (!e->mon->cfg.reg_fn ||
            e->mon->cfg.reg_fn(e->mon->cfg.reg_opaque, reg, &rv) < 0) {
            expr_error(e, "unknown register");
        }
        n = (int64_t)rv;
        break;
    case '\0':
        expr_error(e, "unexpected end of expression");
        break;
    default:
        errno = 0;
        n = (int64_t)strtoull(e->p, &end, 0);
        if (errno == ERANGE) {
            expr_error(e, "number too large");
        }
        if (end == e->p) {
            expr_error(e, "invalid char '%c' in expression", *e->p);
            break;
        }
        e->p = end;
        while (hmp_space(*e->p)) {
            e->p++;
        }
        break;
    }
    e->depth--;
    return n;
}

static int64_t expr_prod(struct expr *e)
{
    int64_t val = expr_unary(e), val2;
    char op;

    while (!e->failed) {
        op = *e->p;
        if (op != '*' && op != '/' && op != '%') {
            break;
        }
        expr_next(e);
        val2 = expr_unary(e);
        if (e->failed) {
            break;
        }
        if (op == '*') {
            val = (int64_t)((uint64_t)val * (uint64_t)val2);
        } else if (val2 == 0) {
            expr_error(e, "division by zero");
        } else if (val2 == -1) {
            /* INT64_MIN / -1 overflows in C; the result wraps */
            val = op == '/' ? (int64_t)(0 - (uint64_t)val) : 0;
        } else {
            val = op == '/' ? val / val2 : val % val2;
        }
    }
    return val;
}

static int64_t expr_logic(struct expr *e)
{
    int64_t val = expr_prod(e), val2;
    char op;

    while (!e->failed) {
        op = *e->p;
        if (op != '&' && op != '|' && op != '^') {
            break;
        }
        expr_next(e);
        val2 = expr_prod(e);
        val = op == '&' ? val & val2 : op == '|' ? val | val2 : val ^ val2;
    }
    return val;
}

static int64_t expr_sum(struct expr *e)
{
    int64_t val = expr_logic(e), val2;
    char op;

    while (!e->failed) {
        op = *e->p;
        if (op != '+' && op != '-') {
            break;
        }
        expr_next(e);
        val2 = expr_logic(e);
        val = (int64_t)(op == '+' ? (uint64_t)val + (uint64_t)val2
                                  : (uint64_t)val - (uint64_t)val2);
    }
    return val;
}

/* Evaluate at *@pp, advancing it. Returns 0, or -EINVAL with @msg set. */
static int get_expr(struct mon *mon, const char **pp, int64_t *val, char *msg,
                    size_t msg_cap)
{
    struct expr e = {.mon = mon, .p = *pp};

    while (hmp_space(*e.p)) {
        e.p++;
    }
    *val = expr_sum(&e);
    *pp = e.p;
    if (e.failed) {
        snprintf(msg, msg_cap, "%s", e.err);
        return -EINVAL;
    }
    return 0;
}

int mon_hmp_eval(struct mon *mon, const char *expr, int64_t *val,
                 struct err *err)
{
    char msg[160];
    const char *p = expr;
    int ret = get_expr(mon, &p, val, msg, sizeof(msg));

    if (ret < 0) {
        return err_set(err, ret, "%s", msg);
    }
    if (*p) {
        return err_set(err, -EINVAL, "junk at end of expression");
    }
    return 0;
}

/* ---- argument parsing ---- */

/*
 * QEMU's get_str: a word, or a "quoted" string with \n \r \\ \' \". On a
 * bad escape or an open quote, @why (@why_cap bytes) says so, as QEMU
 * prints it before the caller's "NAME: string expected".
 */
static int get_str(char *buf, size_t cap, const char **pp, char *why,
                   size_t why_cap)
{
    const char *p = *pp;
    size_t q = 0;
    char c;

    while (hmp_space(*p)) {
        p++;
    }
    if (!*p) {
        goto fail;
    }
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            c = *p++;
            if (c == '\\') {
                c = *p++;
                if (c == 'n') {
                    c = '\n';
                } else if (c == 'r') {
                    c = '\r';
                } else if (!c) {
                    p--; /* a backslash ends the line: never read past it */
                    snprintf(why, why_cap, "unterminated string\n");
                    goto fail;
                } else if (c != '\\' && c != '\'' && c != '"') {
                    snprintf(why, why_cap, "unsupported escape code: '\\%c'\n",
                             c);
                    goto fail;
                }
            }
            if (q < cap - 1) {
                buf[q++] = c;
            }
        }
        if (*p != '"') {
            snprintf(why, why_cap, "unterminated string\n");
            goto fail;
        }
        p++;
    } else {
        while (*p && !hmp_space(*p)) {
            if (q < cap - 1) {
                buf[q++] = *p;
            }
            p++;
        }
    }
    buf[q] = 0;
    *pp = p;
    return 0;
fail:
    buf[q] = 0;
    *pp = p;
    return -1;
}

static int parse_size(const char *s, int64_t *out)
{
    char *end;
    double v;
    uint64_t mul = 1u << 20; /* bare numbers are MiB, as qemu_strtosz_MiB */

    errno = 0;
    v = strtod(s, &end);
    if (end == s || errno || v < 0) {
        return -EINVAL;
    }
    switch (*end) {
    case 'B':
    case 'b':
        mul = 1;
        end++;
        break;
    case 'K':
    case 'k':
        mul = 1u << 10;
        end++;
        break;
    case 'M':
    case 'm':
        end++;
        break;
    case 'G':
    case 'g':
        mul = 1u << 30;
        end++;
        break;
    case 'T':
    case 't':
        mul = 1ull << 40;
        end++;
        break;
    default:
        break;
    }
    if (*end || v * (double)mul >= 18446744073709551616.0) {
        return -EINVAL;
    }
    *out = (int64_t)(uint64_t)(v * (double)mul);
    return 0;
}

struct hmp_parse {
    struct mon *mon;
    const char *name; /* for messages: the table name ("print|p") */
    struct mon_json *args;
    char msg[300];
};

static int put(struct hmp_parse *hp, const char *key, struct mon_json *v)
{
    if (mon_json_object_set_take(hp->args, key, v) < 0) {
        snprintf(hp->msg, sizeof(hp->msg), "out of memory");
        return -ENOMEM;
    }
    return 0;
}

static int parse_fmt(struct hmp_parse *hp, const char **pp, const char *key)
{
    const char *p = *pp;
    int64_t count = 1;
    int format = -1, size = -1;
    int ret;

    while (hmp_space(*p)) {
        p++;
    }
    if (*p == '/') {
        p++;
        if (isdigit((unsigned char)*p)) {
            count = 0;
            while (isdigit((unsigned char)*p)) {
                count = count * 10 + (*p - '0');
                if (count > INT32_MAX) {
                    count = INT32_MAX;
                }
                p++;
            }
        }
        for (;;) {
            if (*p && strchr("oduxic", *p)) {
                format = *p++;
            } else if (*p == 'b') {
                size = 1;
                p++;
            } else if (*p == 'h') {
                size = 2;
                p++;
            } else if (*p == 'w') {
                size = 4;
                p++;
            } else if (*p == 'g' || *p == 'L') {
                size = 8;
                p++;
            } else {
                break;
            }
        }
        if (*p && !hmp_space(*p)) {
            snprintf(hp->msg, sizeof(hp->msg), "invalid char in format: '%c'",
                     *p);
            return -EINVAL;
        }
        if (format < 0) {
            format = hp->mon->last_format;
        }
        if (format != 'i') {
            if (size < 0) {
                size = hp->mon->last_size;
            }
            hp->mon->last_size = size;
        }
        hp->mon->last_format = format;
    } else {
        format = hp->mon->last_format;
        size = format != 'i' ? hp->mon->last_size : -1;
    }
    *pp = p;
    (void)key;
    ret = put(hp, "count", mon_json_int_new(count));
    if (ret == 0) {
        ret = put(hp, "format", mon_json_int_new(format));
    }
    if (ret == 0) {
        ret = put(hp, "size", mon_json_int_new(size));
    }
    return ret;
}

/* Is -@c one of the flags still to come in @spec? (QEMU is_valid_option) */
static bool later_flag(const char *spec, char c)
{
    struct hmp_arg a;

    while (spec_next(&spec, &a, NULL) > 0) {
        if (a.type == '-' && a.flag == c) {
            return true;
        }
    }
    return false;
}

static int parse_args(struct hmp_parse *hp, const char *spec, const char **pp)
{
    char buf[HMP_MAX_STR], why[64];
    const char *p = *pp, *beg;
    struct hmp_arg a;
    int64_t val;
    int ret;

    while (spec && spec_next(&spec, &a, NULL) > 0) {
        while (hmp_space(*p)) {
            p++;
        }
        if (a.optional && !*p && a.type != '-') {
            continue;
        }
        switch (a.type) {
        case 's':
        case 'F':
        case 'B':
            why[0] = 0;
            if (get_str(buf, sizeof(buf), &p, why, sizeof(why)) < 0) {
                snprintf(hp->msg, sizeof(hp->msg), "%s%s: %s expected", why,
                         hp->name,
                         a.type == 'F'   ? "filename"
                         : a.type == 'B' ? "block device name"
                                         : "string");
                return -EINVAL;
            }
            ret = put(hp, a.key, mon_json_str_new(buf));
            break;
        case 'S':
            if (!*p) {
                snprintf(hp->msg, sizeof(hp->msg), "%s: string expected",
                         hp->name);
                return -EINVAL;
            }
            ret = put(hp, a.key, mon_json_str_new(p));
            p += strlen(p);
            break;
        case 'i':
        case 'l':
        case 'M':
            ret = get_expr(hp->mon, &p, &val, hp->msg, sizeof(hp->msg));
            if (ret < 0) {
                return ret;
            }
            if (a.type == 'i' && ((uint64_t)val >> 32)) {
                snprintf(hp->msg, sizeof(hp->msg),
                         "'%s' has failed: integer is for 32-bit values",
                         hp->name);
                return -EINVAL;
            }
            if (a.type == 'M') {
                if (val < 0) {
                    snprintf(hp->msg, sizeof(hp->msg),
                             "enter a positive value");
                    return -EINVAL;
                }
                val = (int64_t)((uint64_t)val << 20);
            }
            ret = put(hp, a.key, mon_json_int_new(val));
            break;
        case 'o':
            if (get_str(buf, sizeof(buf), &p, why, sizeof(why)) < 0 ||
                parse_size(buf, &val) < 0) {
                snprintf(hp->msg, sizeof(hp->msg), "invalid size");
                return -EINVAL;
            }
            ret = put(hp, a.key, mon_json_int_new(val));
            break;
        case 'b':
            beg = p;
            while (*p && !hmp_space(*p)) {
                p++;
            }
            if (p - beg == 2 && !memcmp(beg, "on", 2)) {
                ret = put(hp, a.key, mon_json_bool_new(true));
            } else if (p - beg == 3 && !memcmp(beg, "off", 3)) {
                ret = put(hp, a.key, mon_json_bool_new(false));
            } else {
                snprintf(hp->msg, sizeof(hp->msg), "Expected 'on' or 'off'");
                return -EINVAL;
            }
            break;
        case '/':
            ret = parse_fmt(hp, &p, a.key);
            break;
        case '-':
            ret = 0;
            if (*p == '-') {
                if (p[1] == a.flag) {
                    p += 2;
                    ret = put(hp, a.key, mon_json_bool_new(true));
                } else if (!later_flag(spec, p[1])) {
                    snprintf(hp->msg, sizeof(hp->msg),
                             "%s: unsupported option -%c", hp->name, p[1]);
                    return -EINVAL;
                }
            }
            break;
        default:
            ret = -EINVAL;
            break;
        }
        if (ret < 0) {
            return ret;
        }
    }
    while (hmp_space(*p)) {
        p++;
    }
    if (*p) {
        snprintf(hp->msg, sizeof(hp->msg),
                 "%s: extraneous characters at the end of line", hp->name);
        return -EINVAL;
    }
    *pp = p;
    return 0;
}

/* ---- help ---- */

static const char *sub_name(const struct mon_cmd_ent *e)
{
    return e->info ? e->cmd->hmp_name + 5 : e->cmd->hmp_name;
}

static int ent_cmp(const void *a, const void *b)
{
    return strcmp(sub_name(*(const struct mon_cmd_ent *const *)a),
                  sub_name(*(const struct mon_cmd_ent *const *)b));
}

static void help_list(struct mon *mon, struct mon_buf *out, bool info)
{
    const struct mon_cmd_ent **v;
    size_t i, n = 0;

    v = mem_calloc(mon->ncmds ? mon->ncmds : 1, sizeof(*v));
    if (!v) {
        return;
    }
    for (i = 0; i < mon->ncmds; i++) {
        if (mon->cmds[i].cmd->hmp_name && mon->cmds[i].info == info) {
            v[n++] = &mon->cmds[i];
        }
    }
    qsort(v, n, sizeof(*v), ent_cmp);
    for (i = 0; i < n; i++) {
        mon_buf_printf(out, "%s%s %s -- %s\n", info ? "info " : "",
                       sub_name(v[i]),
                       v[i]->cmd->hmp_params ? v[i]->cmd->hmp_params : "",
                       v[i]->cmd->help ? v[i]->cmd->help : "");
    }
    mem_free(v);
}

static void help_one(const struct mon_cmd_ent *e, struct mon_buf *out)
{
    mon_buf_printf(out, "%s %s -- %s\n", e->cmd->hmp_name,
                   e->cmd->hmp_params ? e->cmd->hmp_params : "",
                   e->cmd->help ? e->cmd->help : "");
}

/* `help NAME` of a MON_CMD_HELP_RUNS entry: its handler, no arguments. */
static void help_run(struct mon *mon, struct mon_session *s,
                     const struct mon_cmd_ent *e, struct mon_buf *out)
{
    struct mon_req req = {0};
    struct err err = {0};

    req.session = s;
    req.hmp = true;
    req.hmp_out = out;
    if (mon_cmd_run(mon, &req, e, NULL, &err) < 0) {
        mon_buf_printf(out, "%s\n", err.msg);
    }
    mon_json_free(req.ret);
}

static void hmp_help(struct mon *mon, struct mon_session *s, const char *arg,
                     struct mon_buf *out)
{
    const struct mon_cmd_ent *e;
    const char *p = arg, *w1, *w2;
    size_t n1, n2;

    while (p && hmp_space(*p)) {
        p++;
    }
    if (!p || !*p) {
        help_list(mon, out, false);
        return;
    }
    w1 = p;
    while (*p && !hmp_space(*p)) {
        p++;
    }
    n1 = (size_t)(p - w1);
    while (hmp_space(*p)) {
        p++;
    }
    w2 = p;
    while (*p && !hmp_space(*p)) {
        p++;
    }
    n2 = (size_t)(p - w2);
    e = mon_cmd_find_hmp(mon, w1, n1, false);
    if (!e) {
        mon_buf_printf(out, "unknown command: '%.*s'\n", (int)n1, w1);
        return;
    }
    if (n1 == 4 && !memcmp(w1, "info", 4)) {
        if (!n2) {
            help_list(mon, out, true);
            return;
        }
        e = mon_cmd_find_hmp(mon, w2, n2, true);
        if (!e) {
            mon_buf_printf(out, "unknown command: 'info %.*s'\n", (int)n2, w2);
            return;
        }
    }
    if (e->cmd->flags & MON_CMD_HELP_RUNS) {
        help_run(mon, s, e, out);
        return;
    }
    help_one(e, out);
}

/* ---- dispatch ---- */

void mon_hmp_run_line(struct mon *mon, struct mon_session *s, const char *line,
                      struct mon_buf *out)
{
    const char *p = line ? line : "", *line0 = p, *start, *name;
    const struct mon_cmd_ent *e;
    struct hmp_parse hp = {.mon = mon};
    struct mon_req req = {0};
    struct err err = {0};
    size_t n;
    int ret;

    while (hmp_space(*p)) {
        p++;
    }
    start = p;
    while (*p && *p != '/' && !hmp_space(*p)) {
        p++;
    }
    n = (size_t)(p - start);
    if (!n) {
        return;
    }
    e = mon_cmd_find_hmp(mon, start, n, false);
    if (!e) {
        /* QEMU quotes the line from its very start */
        mon_buf_printf(out, "unknown command: '%.*s'\n", (int)(p - line0),
                       line0);
        return;
    }
    if (!strcmp(e->hmp_first, "help")) {
        hmp_help(mon, s, p, out);
        return;
    }
    if (!strcmp(e->hmp_first, "info")) {
        while (hmp_space(*p)) {
            p++;
        }
        if (!*p) {
            help_list(mon, out, true);
            return;
        }
        name = p;
        while (*p && *p != '/' && !hmp_space(*p)) {
            p++;
        }
        e = mon_cmd_find_hmp(mon, name, (size_t)(p - name), true);
        if (!e) {
            mon_buf_printf(out, "unknown command: '%.*s'\n", (int)(p - line0),
                           line0);
            return;
        }
    }
    hp.name = e->info ? e->cmd->hmp_name + 5 : e->cmd->hmp_name;
    name = p; /* end of the command name, for "Try help" */
    hp.args = mon_json_object_new();
    if (!hp.args) {
        mon_buf_puts(out, "out of memory\n");
        return;
    }
    ret = parse_args(&hp, e->cmd->hmp_args, &p);
    if (ret < 0) {
        mon_buf_printf(out, "%s\n", hp.msg);
        /* QEMU names the line as typed, up to the end of the command name */
        mon_buf_printf(out, "Try \"help %.*s\" for more information\n",
                       (int)(name - line0), line0);
        mon_json_free(hp.args);
        return;
    }
    req.session = s;
    req.hmp = true;
    req.hmp_out = out;
    ret = mon_cmd_run(mon, &req, e, hp.args, &err);
    if (ret < 0) {
        if (!e->cmd->name || (e->cmd->flags & MON_CMD_HMP_ONLY)) {
            mon_buf_printf(out, "%s\n", err.msg);
        } else {
            mon_buf_printf(out, "Error: %s\n", err.msg);
        }
    } else if (e->cmd->hmp_fmt && req.ret) {
        e->cmd->hmp_fmt(&req, req.ret);
    }
    mon_json_free(req.ret);
    mon_json_free(hp.args);
}

/* ---- completion ---- */

static void complete_names(struct mon *mon, struct mon_rl *rl,
                           const char *prefix, bool info)
{
    const char *names, *bar;
    size_t i, n, plen = strlen(prefix);
    char tmp[128];

    rl->compl_index = (int)plen;
    for (i = 0; i < mon->ncmds; i++) {
        if (!mon->cmds[i].cmd->hmp_name || mon->cmds[i].info != info) {
            continue;
        }
        names = sub_name(&mon->cmds[i]);
        for (;;) {
            bar = strchr(names, '|');
            n = bar ? (size_t)(bar - names) : strlen(names);
            if (n >= plen && n < sizeof(tmp) && !strncmp(names, prefix, plen)) {
                memcpy(tmp, names, n);
                tmp[n] = 0;
                mon_rl_add_completion(rl, tmp);
            }
            if (!bar) {
                break;
            }
            names = bar + 1;
        }
    }
}

void mon_hmp_complete(struct mon *mon, struct mon_rl *rl, const char *line)
{
    const char *args[HMP_MAX_COMPL_ARGS];
    size_t lens[HMP_MAX_COMPL_ARGS];
    char word[128];
    const char *p = line;
    int nb = 0;

    for (;;) {
        while (hmp_space(*p)) {
            p++;
        }
        if (!*p) {
            break;
        }
        if (nb == HMP_MAX_COMPL_ARGS) {
            return;
        }
        args[nb] = p;
        while (*p && !hmp_space(*p)) {
            p++;
        }
        lens[nb] = (size_t)(p - args[nb]);
        nb++;
    }
    /* a trailing space starts a new, empty argument */
    if (p > line && hmp_space(p[-1]) && nb < HMP_MAX_COMPL_ARGS) {
        args[nb] = p;
        lens[nb++] = 0;
    }
    if (nb <= 1) {
        snprintf(word, sizeof(word), "%.*s", nb ? (int)lens[0] : 0,
                 nb ? args[0] : "");
        complete_names(mon, rl, word, false);
        return;
    }
    if (nb == 2) {
        snprintf(word, sizeof(word), "%.*s", (int)lens[1], args[1]);
        if (lens[0] == 4 && !memcmp(args[0], "info", 4)) {
            complete_names(mon, rl, word, true);
        } else if ((lens[0] == 4 && !memcmp(args[0], "help", 4)) ||
                   (lens[0] == 1 && args[0][0] == '?')) {
            complete_names(mon, rl, word, false);
        }
    }
}

/* ---- sessions ---- */

static void hmp_flush(struct mon_session *s)
{
    if (s->hmp_out.len && !s->hmp_out.oom) {
        mon_session_emit(s, s->hmp_out.p, s->hmp_out.len);
    }
    s->hmp_out.len = 0;
    s->hmp_out.oom = false;
}

static void hmp_on_line(void *opaque, const char *line)
{
    struct mon_session *s = opaque;

    if (s->suspended) {
        return;
    }
    mon_hmp_run_line(s->mon, s, line, &s->hmp_out);
    if (!s->suspended && !s->hold) {
        mon_rl_show_prompt(&s->rl);
    }
}

static void hmp_on_complete(void *opaque, struct mon_rl *rl, const char *line)
{
    struct mon_session *s = opaque;

    mon_hmp_complete(s->mon, rl, line);
}

void mon_hmp_session_open(struct mon_session *s)
{
    s->rl.line_fn = hmp_on_line;
    s->rl.complete_fn = hmp_on_complete;
    mon_rl_reset(&s->rl);
    mon_buf_printf(&s->hmp_out,
                   "QEMU %d.%d.%d monitor - type 'help' for more "
                   "information\n",
                   s->mon->cfg.version_major, s->mon->cfg.version_minor,
                   s->mon->cfg.version_micro);
    mon_rl_show_prompt(&s->rl);
    hmp_flush(s);
}

void mon_session_focus(struct mon_session *s)
{
    if (!s || !s->open || s->mode != MON_MODE_HMP) {
        return;
    }
    /* readline_restart(): the line is dropped, the history walk kept. */
    s->rl.cmd_len = 0;
    s->rl.cmd_pos = 0;
    mon_rl_show_prompt(&s->rl);
    hmp_flush(s);
}

void mon_hmp_session_input(struct mon_session *s, const unsigned char *src,
                           size_t src_len)
{
    size_t i;

    s->rl.line_fn = hmp_on_line;
    s->rl.complete_fn = hmp_on_complete;
    for (i = 0; i < src_len && !s->suspended && !s->hold; i++) {
        mon_rl_feed(&s->rl, src[i]);
    }
    if (s->hold && i < src_len && !s->suspended) {
        size_t room = MON_HOLD_INPUT_MAX - s->held_in.len;

        mon_buf_put(&s->held_in, (const char *)src + i,
                    src_len - i < room ? src_len - i : room);
    }
    hmp_flush(s);
}

void mon_hmp_session_release(struct mon_session *s)
{
    struct mon_buf in = s->held_in;

    s->hold = 0;
    memset(&s->held_in, 0, sizeof(s->held_in));
    if (s->open && !s->suspended) {
        mon_rl_show_prompt(&s->rl);
        hmp_flush(s);
        if (in.len && !in.oom) {
            mon_hmp_session_input(s, (const unsigned char *)in.p, in.len);
        }
    }
    mon_buf_fini(&in);
}
