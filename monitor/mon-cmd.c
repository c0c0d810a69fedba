/* SPDX-License-Identifier: MIT */
/*
 * monitor/mon-cmd.c - the monitor object, the command registry, the
 * handler-side request API and the core commands every monitor has.
 */
#include "monitor/mon-int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

int mon_new(const struct mon_config *cfg, struct mon **out, struct err *err)
{
    struct mon *mon;
    int ret;

    CHECK_ARG(cfg && out);
    mon = mem_calloc(1, sizeof(*mon));
    if (!mon) {
        return err_set(err, -ENOMEM, "monitor: out of memory");
    }
    mon->cfg = *cfg;
    mon->package = mem_strdup(cfg->package ? cfg->package : "");
    mon->last_format = 'x';
    mon->last_size = 4;
    mon->hmc_cpu_index = -1;
    if (!mon->package) {
        mem_free(mon);
        return err_set(err, -ENOMEM, "monitor: out of memory");
    }
    mon->cfg.package = mon->package;
    ret = mon_core_register(mon, err);
    if (ret < 0) {
        mon_free(mon);
        return ret;
    }
    *out = mon;
    return 0;
}

void mon_free(struct mon *mon)
{
    size_t i;

    if (!mon) {
        return;
    }
    while (mon->sessions) {
        mon_session_free(mon->sessions);
    }
    for (i = 0; i < mon->ncmds; i++) {
        mon_type_free(mon->cmds[i].args);
        mon_type_free(mon->cmds[i].ret);
        mem_free(mon->cmds[i].hmp_first);
    }
    mem_free(mon->cmds);
    mem_free(mon->package);
    mem_free(mon);
}

/* ---- registry ---- */

/* Does the '|'-separated alias list @names contain @name (@len bytes)? */
static bool alias_match(const char *names, const char *name, size_t len)
{
    const char *p = names, *bar;
    size_t n;

    for (;;) {
        bar = strchr(p, '|');
        n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && !memcmp(p, name, len)) {
            return true;
        }
        if (!bar) {
            return false;
        }
        p = bar + 1;
    }
}

const struct mon_cmd_ent *mon_cmd_find_qmp(const struct mon *mon,
                                           const char *name)
{
    size_t i;

    for (i = 0; i < mon->ncmds; i++) {
        const struct mon_cmd *c = mon->cmds[i].cmd;

        if (c->name && !(c->flags & MON_CMD_HMP_ONLY) &&
            !strcmp(c->name, name)) {
            return &mon->cmds[i];
        }
    }
    return NULL;
}

const struct mon_cmd_ent *mon_cmd_find_hmp(const struct mon *mon,
                                           const char *name, size_t name_len,
                                           bool info)
{
    const char *hn;
    size_t i;

    for (i = 0; i < mon->ncmds; i++) {
        hn = mon->cmds[i].cmd->hmp_name;
        if (!hn || mon->cmds[i].info != info) {
            continue;
        }
        if (info) {
            hn += 5; /* "info " */
        }
        if (alias_match(hn, name, name_len)) {
            return &mon->cmds[i];
        }
    }
    return NULL;
}

static int register_one(struct mon *mon, const struct mon_cmd *c,
                        struct err *err)
{
    struct mon_cmd_ent ent = {.cmd = c};
    struct mon_cmd_ent *cmds;
    const char *bar;
    size_t cap, len;
    int ret;

    if ((c->flags & MON_CMD_CAPABILITIES) && mon->ncmds) {
        return err_set(err, -EINVAL, "'%s': reserved flag",
                       c->name ? c->name : "?");
    }
    if (!c->fn || (!c->name && !c->hmp_name)) {
        return err_set(err, -EINVAL, "command table entry without %s",
                       c->fn ? "a name" : "a handler");
    }
    if (c->name && mon_cmd_find_qmp(mon, c->name)) {
        return err_set(err, -EINVAL, "command '%s' registered twice", c->name);
    }
    if (c->hmp_name) {
        ent.info = !strncmp(c->hmp_name, "info ", 5);
        bar = strchr(c->hmp_name, '|');
        len = bar ? (size_t)(bar - c->hmp_name) : strlen(c->hmp_name);
        if (mon_cmd_find_hmp(mon, c->hmp_name + (ent.info ? 5 : 0),
                             len - (ent.info ? 5 : 0), ent.info)) {
            return err_set(err, -EINVAL, "HMP command '%s' registered twice",
                           c->hmp_name);
        }
        ent.hmp_first = mem_alloc(len + 1);
        if (!ent.hmp_first) {
            return err_set(err, -ENOMEM, "out of memory");
        }
        memcpy(ent.hmp_first, c->hmp_name, len);
        ent.hmp_first[len] = 0;
    }
    ret = c->hmp_args ? mon_hmp_check_spec(c->hmp_args, err) : 0;
    if (ret == 0 && c->args) {
        ret = mon_type_parse(c->args, &ent.args, err);
        if (ret == 0 && ent.args->kind != MON_T_OBJECT) {
            ret = err_set(err, -EINVAL, "'%s': arguments must be an object",
                          c->name ? c->name : c->hmp_name);
        }
    }
    if (ret == 0 && c->ret) {
        ret = mon_type_parse(c->ret, &ent.ret, err);
    }
    if (ret == 0 && mon->ncmds == mon->cmdcap) {
        cap = mon->cmdcap ? mon->cmdcap * 2 : 32;
        cmds = mem_realloc(mon->cmds, cap * sizeof(*cmds));
        if (!cmds) {
            ret = err_set(err, -ENOMEM, "out of memory");
        } else {
            mon->cmds = cmds;
            mon->cmdcap = cap;
        }
    }
    if (ret < 0) {
        mon_type_free(ent.args);
        mon_type_free(ent.ret);
        mem_free(ent.hmp_first);
        return ret;
    }
    mon->cmds[mon->ncmds++] = ent;
    return 0;
}

int mon_cmd_register(struct mon *mon, const struct mon_cmd *cmds, size_t n,
                     struct err *err)
{
    size_t i;
    int ret;

    CHECK_ARG(mon && (cmds || !n));
    for (i = 0; i < n; i++) {
        ret = register_one(mon, &cmds[i], err);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

int mon_cmd_run(struct mon *mon, struct mon_req *req,
                const struct mon_cmd_ent *ent, const struct mon_json *args,
                struct err *err)
{
    static const struct mon_json empty = {.type = MON_JSON_OBJECT};

    req->mon = mon;
    req->ent = ent;
    req->args = args ? args : &empty;
    req->ret = NULL;
    req->cls = MON_ERR_GENERIC;
    return ent->cmd->fn(req, err);
}

/* ---- handler API ---- */

const struct mon_json *mon_req_args(const struct mon_req *req)
{
    return req->args;
}

const char *mon_req_arg_str(const struct mon_req *req, const char *name)
{
    return mon_json_str_get(mon_json_object_get(req->args, name));
}

bool mon_req_arg_int(const struct mon_req *req, const char *name, int64_t *val)
{
    const struct mon_json *v = mon_json_object_get(req->args, name);

    if (v && v->type == MON_JSON_INT && v->is_uint) {
        *val = (int64_t)v->u.u;
        return true;
    }
    return mon_json_int_get(v, val);
}

bool mon_req_arg_bool(const struct mon_req *req, const char *name, bool *val)
{
    return mon_json_bool_get(mon_json_object_get(req->args, name), val);
}

void mon_req_suspend(struct mon_req *req)
{
    if (req->session && req->session->mode == MON_MODE_HMP) {
        req->session->suspended = true;
    }
}

uint64_t mon_req_hold(struct mon_req *req)
{
    struct mon_session *s = req->session;

    if (!s || s->mode != MON_MODE_HMP || s->suspended) {
        return 0;
    }
    if (!s->hold) {
        s->hold = ++s->mon->last_hold;
    }
    return s->hold;
}

void mon_hold_release(struct mon *mon, uint64_t token)
{
    struct mon_session *s;

    for (s = mon ? mon->sessions : NULL; s && token; s = s->next) {
        if (s->hold == token) {
            mon_hmp_session_release(s);
            return;
        }
    }
}

struct mon_session *mon_req_session(const struct mon_req *req)
{
    return req->session;
}

int64_t mon_req_cpu_index(const struct mon_req *req)
{
    return req->session ? -1 : req->mon->hmc_cpu_index;
}

void *mon_req_opaque(const struct mon_req *req)
{
    return req->ent->cmd->opaque;
}

struct mon *mon_req_mon(const struct mon_req *req)
{
    return req->mon;
}

bool mon_req_is_hmp(const struct mon_req *req)
{
    return req->hmp;
}

void mon_req_return_take(struct mon_req *req, struct mon_json *val)
{
    mon_json_free(req->ret);
    req->ret = val;
}

void mon_req_set_class(struct mon_req *req, enum mon_err_class cls)
{
    req->cls = cls;
}

void mon_req_printf(struct mon_req *req, const char *fmt, ...)
{
    va_list ap;

    if (!req->hmp_out) {
        return;
    }
    va_start(ap, fmt);
    mon_buf_vprintf(req->hmp_out, fmt, ap);
    va_end(ap);
}

/* ---- core commands ---- */

static int ret_or_nomem(struct mon_req *req, struct mon_json *v, int ret,
                        struct err *err)
{
    if (ret < 0 || !v) {
        mon_json_free(v);
        return err_set(err, -ENOMEM, "out of memory");
    }
    mon_req_return_take(req, v);
    return 0;
}

static int cmd_qmp_capabilities(struct mon_req *req, struct err *err)
{
    const struct mon_json *en = mon_json_object_get(req->args, "enable");

    if (mon_json_len(en)) {
        /* the only capability QEMU defines is oob, which rrvm lacks */
        return err_set(err, -ENOTSUP, "Capability %s not available",
                       mon_json_str_get(mon_json_array_get(en, 0)));
    }
    return ret_or_nomem(req, mon_json_object_new(), 0, err);
}

static int cmd_query_commands(struct mon_req *req, struct err *err)
{
    struct mon_json *list = mon_json_array_new(), *o;
    struct mon *mon = req->mon;
    size_t i;
    int ret = 0;

    for (i = 0; i < mon->ncmds && list && ret == 0; i++) {
        const struct mon_cmd *c = mon->cmds[i].cmd;

        if (!c->name || (c->flags & MON_CMD_HMP_ONLY)) {
            continue;
        }
        o = mon_json_object_new();
        ret = mon_json_object_set_take(o, "name", mon_json_str_new(c->name));
        if (ret == 0) {
            ret = mon_json_array_append_take(list, o);
        } else {
            mon_json_free(o);
        }
    }
    return ret_or_nomem(req, list, ret, err);
}

static int cmd_query_qmp_schema(struct mon_req *req, struct err *err)
{
    struct mon_json *s = NULL;
    int ret = mon_schema_build(req->mon, &s);

    return ret_or_nomem(req, s, ret, err);
}

struct mon_json *mon_version_json(const struct mon *mon)
{
    struct mon_json *v = mon_json_object_new(), *q = mon_json_object_new();
    int ret;

    ret = mon_json_object_set_take(q, "micro",
                                   mon_json_int_new(mon->cfg.version_micro));
    ret |= mon_json_object_set_take(q, "minor",
                                    mon_json_int_new(mon->cfg.version_minor));
    ret |= mon_json_object_set_take(q, "major",
                                    mon_json_int_new(mon->cfg.version_major));
    ret |= mon_json_object_set_take(v, "qemu", q);
    ret |=
        mon_json_object_set_take(v, "package", mon_json_str_new(mon->package));
    if (ret) {
        mon_json_free(v);
        return NULL;
    }
    return v;
}

static int cmd_query_version(struct mon_req *req, struct err *err)
{
    return ret_or_nomem(req, mon_version_json(req->mon), 0, err);
}

static void fmt_info_version(struct mon_req *req, const struct mon_json *ret)
{
    const struct mon_json *q = mon_json_object_get(ret, "qemu");
    int64_t ma = 0, mi = 0, mc = 0;

    mon_json_int_get(mon_json_object_get(q, "major"), &ma);
    mon_json_int_get(mon_json_object_get(q, "minor"), &mi);
    mon_json_int_get(mon_json_object_get(q, "micro"), &mc);
    mon_req_printf(req, "%lld.%lld.%lld%s\n", (long long)ma, (long long)mi,
                   (long long)mc,
                   mon_json_str_get(mon_json_object_get(ret, "package")));
}

static int cmd_human_monitor_command(struct mon_req *req, struct err *err)
{
    const char *line = mon_req_arg_str(req, "command-line");
    struct mon_buf out = {0};
    struct mon_buf crlf = {0};
    struct mon_json *v;
    int64_t cpu = -1, saved = req->mon->hmc_cpu_index;
    size_t i;

    if (mon_req_arg_int(req, "cpu-index", &cpu) &&
        (cpu < 0 ||
         (req->mon->cfg.nb_cpus > 0 && cpu >= req->mon->cfg.nb_cpus))) {
        return err_set(err, -EINVAL,
                       "Parameter 'cpu-index' expects a CPU number");
    }
    req->mon->hmc_cpu_index = cpu;
    mon_hmp_run_line(req->mon, NULL, line, &out);
    req->mon->hmc_cpu_index = saved;
    mon_buf_puts(&crlf, "");
    for (i = 0; i < out.len; i++) {
        if (out.p[i] == '\n') {
            mon_buf_putc(&crlf, '\r');
        }
        mon_buf_putc(&crlf, out.p[i]);
    }
    v = crlf.oom || out.oom ? NULL : mon_json_str_new(crlf.p);
    mon_buf_fini(&out);
    mon_buf_fini(&crlf);
    return ret_or_nomem(req, v, 0, err);
}

static int cmd_info_history(struct mon_req *req, struct err *err)
{
    struct mon_session *s = req->session;
    int i;

    if (!s || s->mode != MON_MODE_HMP) {
        return 0;
    }
    for (i = 0; i < MON_RL_MAX_HISTORY && s->rl.history[i]; i++) {
        mon_req_printf(req, "%d: '%s'\n", i, s->rl.history[i]);
    }
    return 0;
}

/* help and info are dispatched by mon-hmp.c; these entries feed `help`. */
static int cmd_hmp_dispatched(struct mon_req *req, struct err *err)
{
    return 0;
}

static const struct mon_cmd core_cmds[] = {
    {.name = "qmp_capabilities",
     .args = "{*enable:[enum(oob)]}",
     .help = "enable QMP capabilities",
     .fn = cmd_qmp_capabilities,
     .flags = MON_CMD_CAPABILITIES},
    {.name = "query-commands",
     .ret = "[{name:str}]",
     .help = "list the QMP commands",
     .fn = cmd_query_commands},
    {.name = "query-qmp-schema",
     .ret = "[{name:str,meta-type:str}]",
     .help = "QMP schema introspection",
     .fn = cmd_query_qmp_schema},
    {.name = "query-version",
     .hmp_name = "info version",
     .ret = "{qemu:{major:int,minor:int,micro:int},package:str}",
     .help = "show the version of QEMU",
     .fn = cmd_query_version,
     .hmp_fmt = fmt_info_version},
    {.name = "human-monitor-command",
     .args = "{command-line:str,*cpu-index:int}",
     .ret = "str",
     .help = "execute a human monitor command line",
     .fn = cmd_human_monitor_command},
    {.hmp_name = "help|?",
     .hmp_args = "name:S?",
     .hmp_params = "[cmd]",
     .help = "show the help",
     .fn = cmd_hmp_dispatched,
     .flags = MON_CMD_HMP_ONLY},
    {.hmp_name = "info",
     .hmp_args = "item:s?",
     .hmp_params = "[subcommand]",
     .help = "show various information about the system state",
     .fn = cmd_hmp_dispatched,
     .flags = MON_CMD_HMP_ONLY},
    {.hmp_name = "info history",
     .help = "show the command line history",
     .fn = cmd_info_history,
     .flags = MON_CMD_HMP_ONLY},
};

int mon_core_register(struct mon *mon, struct err *err)
{
    return mon_cmd_register(mon, core_cmds,
                            sizeof(core_cmds) / sizeof(core_cmds[0]), err);
}
