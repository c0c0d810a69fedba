/* SPDX-License-Identifier: MIT */
/*
 * monitor/mon-type.c - the compact type notation of the command table:
 * parsing, QMP argument checking with QEMU's messages, and the QAPI
 * introspection (query-qmp-schema) it generates.
 */
#include "monitor/mon-int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

/* Deepest type expression accepted in a command table. */
#define MON_TYPE_MAX_DEPTH 16

static const struct {
    const char *name;
    enum mon_type_kind kind;
    const char *json_type; /* SchemaInfoBuiltin json-type */
    const char *expect;    /* "expected: %s" of the input visitor */
} builtins[] = {
    {"str", MON_T_STR, "string", "string"},
    {"int", MON_T_INT, "int", "integer"},
    {"bool", MON_T_BOOL, "boolean", "boolean"},
    {"number", MON_T_NUMBER, "number", "number"},
    {"any", MON_T_ANY, "value", "any"},
    {"null", MON_T_NULL, "null", "null"},
    {"size", MON_T_SIZE, "int", "size"},
};

const char *mon_type_builtin_name(enum mon_type_kind kind)
{
    size_t i;

    for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        if (builtins[i].kind == kind) {
            return builtins[i].name;
        }
    }
    return NULL;
}

void mon_type_free(struct mon_type *t)
{
    size_t i;

    if (!t) {
        return;
    }
    mon_type_free(t->elem);
    for (i = 0; i < t->n; i++) {
        mem_free(t->names[i]);
        if (t->types) {
            mon_type_free(t->types[i]);
        }
    }
    mem_free(t->names);
    mem_free(t->optional);
    mem_free(t->types);
    mem_free(t->schema_name);
    mem_free(t);
}

struct tparse {
    const char *p;
    const char *src;
    struct err *err;
};

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

static int tp_error(struct tparse *tp, const char *what)
{
    return err_set(tp->err, -EINVAL, "type '%s': %s at offset %d", tp->src,
                   what, (int)(tp->p - tp->src));
}

static int tp_add(struct mon_type *t, const char *name, size_t len,
                  bool optional, struct mon_type *sub)
{
    size_t n = t->n + 1;
    char **names = mem_realloc(t->names, n * sizeof(*names));
    bool *opt;
    struct mon_type **types;

    if (!names) {
        return -ENOMEM;
    }
    t->names = names;
    opt = mem_realloc(t->optional, n * sizeof(*opt));
    if (!opt) {
        return -ENOMEM;
    }
    t->optional = opt;
    types = mem_realloc(t->types, n * sizeof(*types));
    if (!types) {
        return -ENOMEM;
    }
    t->types = types;
    names[t->n] = mem_alloc(len + 1);
    if (!names[t->n]) {
        return -ENOMEM;
    }
    memcpy(names[t->n], name, len);
    names[t->n][len] = 0;
    opt[t->n] = optional;
    types[t->n] = sub;
    t->n = n;
    return 0;
}

static int tp_type(struct tparse *tp, int depth, struct mon_type **out);

static int tp_members(struct tparse *tp, struct mon_type *t, int depth)
{
    const char *name;
    struct mon_type *sub;
    bool optional;
    size_t len, i;
    int ret;

    if (*tp->p == '}') {
        tp->p++;
        return 0;
    }
    for (;;) {
        optional = *tp->p == '*';
        tp->p += optional;
        name = tp->p;
        while (name_char(*tp->p)) {
            tp->p++;
        }
        len = (size_t)(tp->p - name);
        if (!len || *tp->p != ':') {
            return tp_error(tp, "expected member name and ':'");
        }
        for (i = 0; i < t->n; i++) {
            if (strlen(t->names[i]) == len && !memcmp(t->names[i], name, len)) {
                return tp_error(tp, "duplicate member");
            }
        }
        tp->p++;
        ret = tp_type(tp, depth + 1, &sub);
        if (ret < 0) {
            return ret;
        }
        ret = tp_add(t, name, len, optional, sub);
        if (ret < 0) {
            mon_type_free(sub);
            return err_set(tp->err, ret, "out of memory");
        }
        if (*tp->p == '}') {
            tp->p++;
            return 0;
        }
        if (*tp->p != ',') {
            return tp_error(tp, "expected ',' or '}'");
        }
        tp->p++;
    }
}

static int tp_enum(struct tparse *tp, struct mon_type *t)
{
    const char *v;
    int ret;

    for (;;) {
        v = tp->p;
        while (name_char(*tp->p)) {
            tp->p++;
        }
        if (tp->p == v) {
            return tp_error(tp, "expected enum value");
        }
        ret = tp_add(t, v, (size_t)(tp->p - v), false, NULL);
        if (ret < 0) {
            return err_set(tp->err, ret, "out of memory");
        }
        if (*tp->p == ')') {
            tp->p++;
            return 0;
        }
        if (*tp->p != '|') {
            return tp_error(tp, "expected '|' or ')'");
        }
        tp->p++;
    }
}

static int tp_type(struct tparse *tp, int depth, struct mon_type **out)
{
    struct mon_type *t;
    const char *w;
    size_t len, i;
    int ret = 0;

    if (depth > MON_TYPE_MAX_DEPTH) {
        return tp_error(tp, "nested too deeply");
    }
    t = mem_calloc(1, sizeof(*t));
    if (!t) {
        return err_set(tp->err, -ENOMEM, "out of memory");
    }
    if (*tp->p == '[') {
        tp->p++;
        t->kind = MON_T_ARRAY;
        ret = tp_type(tp, depth + 1, &t->elem);
        if (ret == 0 && *tp->p++ != ']') {
            tp->p--;
            ret = tp_error(tp, "expected ']'");
        }
    } else if (*tp->p == '{') {
        tp->p++;
        t->kind = MON_T_OBJECT;
        ret = tp_members(tp, t, depth);
    } else if (!strncmp(tp->p, "enum(", 5)) {
        tp->p += 5;
        t->kind = MON_T_ENUM;
        ret = tp_enum(tp, t);
    } else {
        w = tp->p;
        while (name_char(*tp->p)) {
            tp->p++;
        }
        len = (size_t)(tp->p - w);
        for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
            if (strlen(builtins[i].name) == len &&
                !memcmp(builtins[i].name, w, len)) {
                break;
            }
        }
        if (i == sizeof(builtins) / sizeof(builtins[0])) {
            tp->p = w;
            ret = tp_error(tp, "unknown type");
        } else {
            t->kind = builtins[i].kind;
        }
    }
    if (ret < 0) {
        mon_type_free(t);
        return ret;
    }
    *out = t;
    return 0;
}

int mon_type_parse(const char *src, struct mon_type **out, struct err *err)
{
    struct tparse tp = {.p = src, .src = src, .err = err};
    struct mon_type *t;
    int ret;

    ret = tp_type(&tp, 0, &t);
    if (ret < 0) {
        return ret;
    }
    if (*tp.p) {
        mon_type_free(t);
        return tp_error(&tp, "trailing characters");
    }
    *out = t;
    return 0;
}

/* ---- argument checking ---- */

static const char *expect_name(const struct mon_type *t)
{
    size_t i;

    if (t->kind == MON_T_OBJECT) {
        return "object";
    }
    if (t->kind == MON_T_ARRAY) {
        return "array";
    }
    if (t->kind == MON_T_ENUM) {
        return "string";
    }
    for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        if (builtins[i].kind == t->kind) {
            return builtins[i].expect;
        }
    }
    return "value";
}

static int check_value(const struct mon_type *t, const struct mon_json *v,
                       const char *path, struct err *err);

/* The last member name of @path ("a.b[0].c" gives "c"), "null" if @path
 * ends in an array index. */
static const char *enum_member_name(const char *path)
{
    size_t len = strlen(path);
    const char *dot = strrchr(path, '.');

    if (len && path[len - 1] == ']') {
        return "null";
    }
    return dot ? dot + 1 : path;
}

static int check_object(const struct mon_type *t, const struct mon_json *obj,
                        const char *prefix, struct err *err)
{
    char path[200];
    const char *key;
    size_t i, j;
    int ret;

    for (i = 0; i < t->n; i++) {
        const struct mon_json *v = mon_json_object_get(obj, t->names[i]);

        snprintf(path, sizeof(path), "%s%s", prefix, t->names[i]);
        if (!v) {
            if (!t->optional[i]) {
                return err_set(err, -EINVAL, "Parameter '%s' is missing", path);
            }
            continue;
        }
        ret = check_value(t->types[i], v, path, err);
        if (ret < 0) {
            return ret;
        }
    }
    for (j = 0; j < mon_json_len(obj); j++) {
        mon_json_object_at(obj, j, &key);
        for (i = 0; i < t->n; i++) {
            if (!strcmp(key, t->names[i])) {
                break;
            }
        }
        if (i == t->n) {
            return err_set(err, -EINVAL, "Parameter '%s%s' is unexpected",
                           prefix, key);
        }
    }
    return 0;
}

static int check_value(const struct mon_type *t, const struct mon_json *v,
                       const char *path, struct err *err)
{
    char sub[200];
    enum mon_json_type jt = mon_json_type(v);
    bool ok = false;
    size_t i;
    int ret;

    switch (t->kind) {
    case MON_T_STR:
        ok = jt == MON_JSON_STRING;
        break;
    case MON_T_INT:
        ok = jt == MON_JSON_INT && !v->is_uint;
        break;
    case MON_T_SIZE:
        ok = jt == MON_JSON_INT && (v->is_uint || v->u.i >= 0);
        break;
    case MON_T_BOOL:
        ok = jt == MON_JSON_BOOL;
        break;
    case MON_T_NUMBER:
        ok = jt == MON_JSON_INT || jt == MON_JSON_NUMBER;
        break;
    case MON_T_ANY:
        ok = true;
        break;
    case MON_T_NULL:
        ok = jt == MON_JSON_NULL;
        break;
    case MON_T_ENUM:
        ok = jt == MON_JSON_STRING;
        if (ok) {
            for (i = 0; i < t->n; i++) {
                if (!strcmp(t->names[i], v->u.s)) {
                    return 0;
                }
            }
            /* QEMU's input_type_enum() names the member alone, and an
             * array element (which has no name) "null" */
            return err_set(err, -EINVAL,
                           "Parameter '%s' does not accept value '%s'",
                           enum_member_name(path), v->u.s);
        }
        break;
    case MON_T_ARRAY:
        if (jt != MON_JSON_ARRAY) {
            break;
        }
        for (i = 0; i < mon_json_len(v); i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            ret = check_value(t->elem, mon_json_array_get(v, i), sub, err);
            if (ret < 0) {
                return ret;
            }
        }
        return 0;
    case MON_T_OBJECT:
        if (jt != MON_JSON_OBJECT) {
            break;
        }
        snprintf(sub, sizeof(sub), "%s.", path);
        return check_object(t, v, sub, err);
    }
    if (!ok) {
        return err_set(err, -EINVAL,
                       "Invalid parameter type for '%s', expected: %s", path,
                       expect_name(t));
    }
    return 0;
}

int mon_type_check_args(const struct mon_type *t, const struct mon_json *args,
                        struct err *err)
{
    static const struct mon_type none = {.kind = MON_T_OBJECT};

    return check_object(t ? t : &none, args, "", err);
}

int mon_json_check(const char *type, const struct mon_json *val,
                   const char *path, struct err *err)
{
    struct mon_type *t = NULL;
    char prefix[200];
    int ret;

    CHECK_ARG(type && val && path);
    ret = mon_type_parse(type, &t, err);
    if (ret < 0) {
        return ret;
    }
    if (t->kind == MON_T_OBJECT && mon_json_type(val) == MON_JSON_OBJECT) {
        snprintf(prefix, sizeof(prefix), "%s%s", path, *path ? "." : "");
        ret = check_object(t, val, prefix, err);
    } else {
        ret = check_value(t, val, path, err);
    }
    mon_type_free(t);
    return ret;
}

static void mon_type_clear_names(struct mon_type *t)
{
    size_t i;

    if (!t) {
        return;
    }
    mem_free(t->schema_name);
    t->schema_name = NULL;
    mon_type_clear_names(t->elem);
    for (i = 0; t->types && i < t->n; i++) {
        mon_type_clear_names(t->types[i]);
    }
}

/* ---- introspection (QAPI SchemaInfo, names masked as 7.2 does) ---- */

struct schema_ctx {
    struct mon_json *list;
    const struct mon_type **types; /* object/enum/array types, in order */
    size_t ntypes;
    unsigned next_id;
    unsigned builtins_used; /* bit per enum mon_type_kind */
    int ret;
};

static void sc_add(struct schema_ctx *sc, struct mon_json *v)
{
    int r = mon_json_array_append_take(sc->list, v);

    if (r < 0 && !sc->ret) {
        sc->ret = r;
    }
}

static void sc_set(struct schema_ctx *sc, struct mon_json *o, const char *k,
                   struct mon_json *v)
{
    int r = mon_json_object_set_take(o, k, v);

    if (r < 0 && !sc->ret) {
        sc->ret = r;
    }
}

/* Name of @t in the schema: built-in names, "[elem]", or a number. */
static const char *sc_name(struct schema_ctx *sc, struct mon_type *t);

static struct mon_json *sc_entry(struct schema_ctx *sc, const char *name,
                                 const char *meta)
{
    struct mon_json *o = mon_json_object_new();

    if (!o) {
        sc->ret = -ENOMEM;
        return NULL;
    }
    sc_set(sc, o, "name", mon_json_str_new(name));
    sc_set(sc, o, "meta-type", mon_json_str_new(meta));
    return o;
}

static const char *sc_name(struct schema_ctx *sc, struct mon_type *t)
{
    char tmp[32];
    const char *en;
    size_t len;

    if (t->schema_name) {
        return t->schema_name;
    }
    if (t->kind == MON_T_ARRAY) {
        en = sc_name(sc, t->elem);
        len = strlen(en ? en : "") + 3;
        t->schema_name = mem_alloc(len);
        if (t->schema_name) {
            snprintf(t->schema_name, len, "[%s]", en ? en : "");
        }
    } else if (t->kind == MON_T_OBJECT || t->kind == MON_T_ENUM) {
        if (t->kind == MON_T_OBJECT && t->n == 0) {
            t->schema_name = mem_strdup("0");
        } else {
            snprintf(tmp, sizeof(tmp), "%u", sc->next_id++);
            t->schema_name = mem_strdup(tmp);
        }
    } else {
        t->schema_name = mem_strdup(mon_type_builtin_name(t->kind));
    }
    if (!t->schema_name) {
        sc->ret = -ENOMEM;
        return "";
    }
    return t->schema_name;
}

static void sc_add_to(struct schema_ctx *sc, struct mon_json *arr,
                      struct mon_json *v)
{
    int r = mon_json_array_append_take(arr, v);

    if (r < 0 && !sc->ret) {
        sc->ret = r;
    }
}

static void sc_define(struct schema_ctx *sc, struct mon_type *t, int depth)
{
    struct mon_json *e, *members, *m, *values;
    size_t i;

    if (sc->ret || depth > MON_TYPE_MAX_DEPTH) {
        return;
    }
    sc_name(sc, t);
    if (t->kind != MON_T_ARRAY && t->kind != MON_T_OBJECT &&
        t->kind != MON_T_ENUM) {
        sc->builtins_used |= 1u << t->kind;
        return;
    }
    if (t->kind == MON_T_ARRAY) {
        sc_define(sc, t->elem, depth + 1);
    } else if (t->kind == MON_T_OBJECT) {
        for (i = 0; i < t->n; i++) {
            sc_define(sc, t->types[i], depth + 1);
        }
    }
    for (i = 0; i < sc->ntypes; i++) {
        if (sc->types[i] == t) {
            return;
        }
    }
    if (t->kind == MON_T_OBJECT && t->n == 0) {
        return; /* "0" is emitted once by the caller */
    }
    if (t->kind != MON_T_ARRAY && t->kind != MON_T_OBJECT &&
        t->kind != MON_T_ENUM) {
        return;
    }
    {
        const struct mon_type **types =
            mem_realloc(sc->types, (sc->ntypes + 1) * sizeof(*types));
        if (!types) {
            sc->ret = -ENOMEM;
            return;
        }
        sc->types = types;
        sc->types[sc->ntypes++] = t;
    }
    if (t->kind == MON_T_ARRAY) {
        e = sc_entry(sc, sc_name(sc, t), "array");
        if (e) {
            sc_set(sc, e, "element-type",
                   mon_json_str_new(t->elem->schema_name));
        }
    } else if (t->kind == MON_T_ENUM) {
        e = sc_entry(sc, sc_name(sc, t), "enum");
        members = mon_json_array_new();
        values = mon_json_array_new();
        for (i = 0; i < t->n && members && values; i++) {
            m = mon_json_object_new();
            if (m) {
                sc_set(sc, m, "name", mon_json_str_new(t->names[i]));
            }
            sc_add_to(sc, members, m);
            sc_add_to(sc, values, mon_json_str_new(t->names[i]));
        }
        if (e) {
            sc_set(sc, e, "members", members);
            sc_set(sc, e, "values", values);
        } else {
            mon_json_free(members);
            mon_json_free(values);
        }
    } else {
        e = sc_entry(sc, sc_name(sc, t), "object");
        members = mon_json_array_new();
        for (i = 0; i < t->n && members; i++) {
            m = mon_json_object_new();
            if (m) {
                sc_set(sc, m, "name", mon_json_str_new(t->names[i]));
                if (t->optional[i]) {
                    sc_set(sc, m, "default", mon_json_null_new());
                }
                sc_set(sc, m, "type",
                       mon_json_str_new(t->types[i]->schema_name));
            }
            sc_add_to(sc, members, m);
        }
        if (e) {
            sc_set(sc, e, "members", members);
        } else {
            mon_json_free(members);
        }
    }
    if (e) {
        sc_add(sc, e);
    }
}

static void sc_command(struct schema_ctx *sc, const struct mon_cmd_ent *ent,
                       struct mon_type *empty)
{
    struct mon_type *args = ent->args ? ent->args : empty;
    struct mon_type *ret = ent->ret ? ent->ret : empty;
    struct mon_json *e;

    sc_define(sc, args, 0);
    sc_define(sc, ret, 0);
    e = sc_entry(sc, ent->cmd->name, "command");
    if (!e) {
        return;
    }
    sc_set(sc, e, "arg-type", mon_json_str_new(sc_name(sc, args)));
    sc_set(sc, e, "ret-type", mon_json_str_new(sc_name(sc, ret)));
    sc_add(sc, e);
}

int mon_schema_build(const struct mon *mon, struct mon_json **out)
{
    struct mon_type empty = {.kind = MON_T_OBJECT};
    struct schema_ctx sc = {.next_id = 1};
    struct mon_json *e;
    size_t i;

    sc.list = mon_json_array_new();
    if (!sc.list) {
        return -ENOMEM;
    }
    for (i = 0; i < mon->ncmds; i++) {
        if (mon->cmds[i].cmd->name &&
            !(mon->cmds[i].cmd->flags & MON_CMD_HMP_ONLY)) {
            sc_command(&sc, &mon->cmds[i], &empty);
        }
    }
    e = sc_entry(&sc, "0", "object");
    if (e) {
        sc_set(&sc, e, "members", mon_json_array_new());
        sc_add(&sc, e);
    }
    for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        if (!(sc.builtins_used & (1u << builtins[i].kind))) {
            continue;
        }
        e = sc_entry(&sc, builtins[i].name, "builtin");
        if (e) {
            sc_set(&sc, e, "json-type",
                   mon_json_str_new(builtins[i].json_type));
            sc_add(&sc, e);
        }
    }
    /* names are per-build: forget them so the next build numbers afresh */
    for (i = 0; i < mon->ncmds; i++) {
        mon_type_clear_names(mon->cmds[i].args);
        mon_type_clear_names(mon->cmds[i].ret);
    }
    mem_free(empty.schema_name);
    mem_free(sc.types);
    if (sc.ret < 0) {
        mon_json_free(sc.list);
        return sc.ret;
    }
    *out = sc.list;
    return 0;
}
