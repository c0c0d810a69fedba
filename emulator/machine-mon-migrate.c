/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-mon-migrate.c - the migration commands of the monitor:
 * migrate, migrate_cancel, migrate-incoming, query-migrate / info migrate,
 * the capabilities, and the MIGRATION / MIGRATION_PASS events, over
 * machine-migrate.c.
 */
#include "emulator/machine-mon.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/loop.h"
#include "emulator/machine-migrate.h"
#include "emulator/machine-mon-int.h"
#include "emulator/rv-int.h"
#include "monitor/mon.h"

/* QEMU 7.2's MigrationCapability names, in its order; only "events" has
 * an effect in rrvm (docs/monitor.md). */
static const char *const cap_names[] = {
    "xbzrle",
    "rdma-pin-all",
    "auto-converge",
    "zero-blocks",
    "compress",
    "events",
    "postcopy-ram",
    "x-colo",
    "release-ram",
    "block",
    "return-path",
    "pause-before-switchover",
    "multifd",
    "dirty-bitmaps",
    "postcopy-blocktime",
    "late-block-activate",
    "x-ignore-shared",
    "validate-uuid",
    "background-snapshot",
    "zero-copy-send",
    "postcopy-preempt",
};
#define NB_CAPS    (sizeof(cap_names) / sizeof(cap_names[0]))
#define CAP_EVENTS 5

struct vm_mon_migrate {
    struct rv_machine *const *m;
    struct mon *mon;
    struct mon_cmd *cmds; /* mig_cmds with opaque = this */
    struct rv_mig *g;     /* NULL until first used */
    bool caps[NB_CAPS];
    bool incoming_defer;   /* -incoming defer: migrate-incoming allowed */
    bool incoming_started; /* migrate-incoming succeeded once */
    bool autostart;        /* no -S */
    bool incoming_failed;  /* the process should exit non-zero */
    char listen_uri[256];  /* incoming tcp:/unix: URI; "" if none */
    uint64_t hold;         /* HMP `migrate` waiting for the end; 0 if none */
    uint64_t releasing;    /* hold ended, its release is due; 0 if none */
    int64_t hold_timer;    /* the timer of @releasing; 0 if none */
};

/* Out of the handler that ended the migration (migrate_cancel), release
 * the held session: its waiting input may run commands. */
static void hold_release(void *opaque)
{
    struct vm_mon_migrate *mm = opaque;
    uint64_t token = mm->releasing;

    mm->hold_timer = 0;
    mm->releasing = 0;
    mon_hold_release(mm->mon, token);
}

/* The migration ended: QEMU's hmp_migrate_status_cb() reports the error
 * (on stderr, where error_report() goes outside a command) and resumes
 * the monitor. */
static void hold_end(struct vm_mon_migrate *mm, const struct rv_mig_info *info)
{
    struct loop *l = rv_machine_loop(*mm->m);

    if (!mm->hold) {
        return;
    }
    if (mm->hold_timer) {
        loop_timer_del(l, mm->hold_timer);
        hold_release(mm);
    }
    if (info->error[0]) {
        log_error("%s", info->error);
    }
    mm->releasing = mm->hold;
    mm->hold = 0;
    mm->hold_timer = loop_timer_add(l, loop_now_ns(), hold_release, mm);
    if (mm->hold_timer <= 0) {
        mm->hold_timer = 0;
        hold_release(mm);
    }
}

static void notify(void *opaque, enum rv_mig_status status, unsigned pass)
{
    struct vm_mon_migrate *mm = opaque;
    struct mon_json *data = mon_json_object_new();
    struct rv_mig_info info;

    if (data && mm->caps[CAP_EVENTS]) {
        if (pass) {
            mon_json_object_set_take(data, "pass", mon_json_int_new(pass));
            mon_event_emit(mm->mon, "MIGRATION_PASS", data);
        } else {
            mon_json_object_set_take(
                data, "status", mon_json_str_new(rv_mig_status_name(status)));
            mon_event_emit(mm->mon, "MIGRATION", data);
        }
    }
    mon_json_free(data);
    if (pass || !mm->g ||
        (status != RV_MIG_COMPLETED && status != RV_MIG_FAILED &&
         status != RV_MIG_CANCELLED)) {
        return;
    }
    rv_mig_info(mm->g, &info);
    hold_end(mm, &info);
    if (status != RV_MIG_FAILED) {
        return;
    }
    if (info.incoming) {
        /* QEMU 7.2 exits when an incoming migration fails. */
        log_error("load of migration failed: %s", info.error);
        mm->incoming_failed = true;
        rv_machine_quit(*mm->m, RV_CAUSE_NONE);
    }
}

static struct rv_mig *mig_get(struct vm_mon_migrate *mm, struct err *err)
{
    if (!*mm->m) {
        err_set(err, -EAGAIN, "The machine is not ready");
        return NULL;
    }
    if (!mm->g && rv_mig_new(*mm->m, notify, mm, &mm->g, err) < 0) {
        return NULL;
    }
    return mm->g;
}

static struct rv_mig *mig_of(struct mon_req *req, struct err *err)
{
    return mig_get(mon_req_opaque(req), err);
}

static int cmd_migrate(struct mon_req *req, struct err *err)
{
    struct vm_mon_migrate *mm = mon_req_opaque(req);
    struct rv_mig *g = mig_of(req, err);
    bool flag;
    int ret;

    if (!g) {
        return -EAGAIN;
    }
    if ((mon_req_arg_bool(req, "blk", &flag) && flag) ||
        (mon_req_arg_bool(req, "inc", &flag) && flag)) {
        return err_set(err, -ENOTSUP,
                       "Block migration is not supported by rrvm");
    }
    if (mon_req_arg_bool(req, "resume", &flag) && flag) {
        return err_set(err, -EINVAL,
                       "Cannot resume if there is no paused migration");
    }
    ret = rv_mig_start(g, mon_req_arg_str(req, "uri"), err);
    if (ret < 0 || !mon_req_is_hmp(req) ||
        (mon_req_arg_bool(req, "detach", &flag) && flag)) {
        return ret;
    }
    /* QEMU's hmp_migrate(): the prompt comes back when it ends. */
    mm->hold = mon_req_hold(req);
    if (!mm->hold) {
        mon_req_printf(req, "terminal does not allow synchronous migration, "
                            "continuing detached\n");
    }
    return 0;
}

static int cmd_migrate_cancel(struct mon_req *req, struct err *err)
{
    struct vm_mon_migrate *mm = mon_req_opaque(req);

    (void)err;
    if (mm->g) {
        rv_mig_cancel(mm->g);
    }
    return 0;
}

static int cmd_migrate_incoming(struct mon_req *req, struct err *err)
{
    struct vm_mon_migrate *mm = mon_req_opaque(req);
    struct rv_mig *g = mig_of(req, err);
    int ret;

    if (!g) {
        return -EAGAIN;
    }
    /* QEMU 7.2's qmp_migrate_incoming() checks in this order. */
    if (mm->incoming_started) {
        return err_set(err, -EBUSY,
                       "The incoming migration has already been started");
    }
    if (!mm->incoming_defer) {
        return err_set(err, -EINVAL,
                       "'-incoming' was not specified on the command line");
    }
    snprintf(mm->listen_uri, sizeof(mm->listen_uri), "%s",
             mon_req_arg_str(req, "uri"));
    ret = rv_mig_incoming(g, mon_req_arg_str(req, "uri"), mm->autostart, err);
    if (ret == 0) {
        mm->incoming_defer = false;
        mm->incoming_started = true;
    }
    return ret;
}

/* QEMU's SocketAddress list of a listening -incoming @uri. */
static struct mon_json *socket_address(const char *uri)
{
    struct mon_json *arr = mon_json_array_new();
    struct mon_json *o = mon_json_object_new();

    if (!arr || !o) {
        mon_json_free(arr);
        mon_json_free(o);
        return NULL;
    }
    if (!strncmp(uri, "unix:", 5)) {
        mon_json_object_set_take(o, "path", mon_json_str_new(uri + 5));
        mon_json_object_set_take(o, "type", mon_json_str_new("unix"));
    } else {
        const char *hp = uri + 4, *colon = strrchr(hp, ':');
        char host[256];
        size_t hl = colon ? (size_t)(colon - hp) : 0;
        bool v6 = hl >= 2 && hp[0] == '[';

        snprintf(host, sizeof(host), "%.*s", v6 ? (int)hl - 2 : (int)hl,
                 v6 ? hp + 1 : hp);
        mon_json_object_set_take(o, "port",
                                 mon_json_str_new(colon ? colon + 1 : ""));
        mon_json_object_set_take(o, v6 ? "ipv6" : "ipv4",
                                 mon_json_bool_new(true));
        mon_json_object_set_take(o, "host", mon_json_str_new(host));
        mon_json_object_set_take(o, "type", mon_json_str_new("inet"));
    }
    mon_json_array_append_take(arr, o);
    return arr;
}

static int cmd_query_migrate(struct mon_req *req, struct err *err)
{
    struct vm_mon_migrate *mm = mon_req_opaque(req);
    struct mon_json *r = mon_json_object_new(), *ram;
    struct rv_mig_info i;

    (void)err;
    if (!r) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    if (!mm->g || (rv_mig_info(mm->g, &i), i.status == RV_MIG_NONE)) {
        if (mm->g && i.listening) {
            mon_json_object_set_take(r, "socket-address",
                                     socket_address(mm->listen_uri));
        }
        mon_req_return_take(req, r);
        return 0;
    }
    mon_json_object_set_take(r, "status",
                             mon_json_str_new(rv_mig_status_name(i.status)));
    if (i.incoming) {
        mon_req_return_take(req, r);
        return 0;
    }
    if (i.status != RV_MIG_SETUP) {
        mon_json_object_set_take(r, "setup-time",
                                 mon_json_uint_new(i.setup_ms));
    }
    if (i.status == RV_MIG_COMPLETED) {
        mon_json_object_set_take(r, "downtime",
                                 mon_json_uint_new(i.downtime_ms));
    }
    mon_json_object_set_take(r, "total-time", mon_json_uint_new(i.total_ms));
    if (i.status == RV_MIG_ACTIVE || i.status == RV_MIG_COMPLETED) {
        ram = mon_json_object_new();
        if (ram) {
            mon_json_object_set_take(ram, "total",
                                     mon_json_uint_new(i.ram_total));
            mon_json_object_set_take(ram, "postcopy-requests",
                                     mon_json_int_new(0));
            mon_json_object_set_take(ram, "dirty-sync-count",
                                     mon_json_uint_new(i.passes));
            mon_json_object_set_take(ram, "multifd-bytes", mon_json_int_new(0));
            mon_json_object_set_take(ram, "pages-per-second",
                                     mon_json_int_new(0));
            mon_json_object_set_take(ram, "downtime-bytes",
                                     mon_json_uint_new(i.transferred));
            mon_json_object_set_take(ram, "page-size", mon_json_int_new(4096));
            mon_json_object_set_take(ram, "remaining",
                                     mon_json_uint_new(i.remaining));
            mon_json_object_set_take(ram, "postcopy-bytes",
                                     mon_json_int_new(0));
            mon_json_object_set_take(ram, "mbps", mon_json_number_new(i.mbps));
            mon_json_object_set_take(ram, "transferred",
                                     mon_json_uint_new(i.transferred));
            mon_json_object_set_take(ram, "dirty-sync-missed-zero-copy",
                                     mon_json_int_new(0));
            mon_json_object_set_take(ram, "precopy-bytes", mon_json_int_new(0));
            mon_json_object_set_take(ram, "duplicate",
                                     mon_json_uint_new(i.duplicate));
            mon_json_object_set_take(ram, "dirty-pages-rate",
                                     mon_json_int_new(0));
            mon_json_object_set_take(ram, "skipped", mon_json_int_new(0));
            mon_json_object_set_take(ram, "normal-bytes",
                                     mon_json_uint_new(i.normal * 4096));
            mon_json_object_set_take(ram, "normal",
                                     mon_json_uint_new(i.normal));
            mon_json_object_set_take(r, "ram", ram);
        }
    }
    if (i.status == RV_MIG_FAILED && i.error[0]) {
        mon_json_object_set_take(r, "error-desc", mon_json_str_new(i.error));
    }
    mon_req_return_take(req, r);
    return 0;
}

static uint64_t member_u64(const struct mon_json *o, const char *key)
{
    const struct mon_json *v = o ? mon_json_object_get(o, key) : NULL;
    int64_t x = 0;

    if (v && mon_json_type(v) == MON_JSON_NUMBER) {
        return 0;
    }
    if (v) {
        mon_json_int_get(v, &x);
    }
    return (uint64_t)x;
}

/* hmp_info_migrate() of QEMU 7.2, as far as the fields apply. */
static void fmt_migrate(struct mon_req *req, const struct mon_json *ret)
{
    const struct mon_json *st = mon_json_object_get(ret, "status");
    const struct mon_json *ram = mon_json_object_get(ret, "ram");
    const struct mon_json *mbps = ram ? mon_json_object_get(ram, "mbps") : NULL;
    const char *status = st ? mon_json_str_get(st) : NULL;
    const struct mon_json *e = mon_json_object_get(ret, "error-desc");

    mon_req_printf(req, "globals:\n");
    mon_req_printf(req, "store-global-state: on\n");
    mon_req_printf(req, "only-migratable: off\n");
    mon_req_printf(req, "send-configuration: on\n");
    mon_req_printf(req, "send-section-footer: on\n");
    mon_req_printf(req, "decompress-error-check: on\n");
    mon_req_printf(req, "clear-bitmap-shift: 18\n");
    if (!status) {
        return;
    }
    mon_req_printf(req, "Migration status: %s", status);
    if (e && mon_json_str_get(e)) {
        mon_req_printf(req, " (%s)", mon_json_str_get(e));
    }
    mon_req_printf(req, "\n");
    if (mon_json_object_get(ret, "total-time")) {
        mon_req_printf(req, "total time: %" PRIu64 " ms\n",
                       member_u64(ret, "total-time"));
    }
    if (mon_json_object_get(ret, "downtime")) {
        mon_req_printf(req, "downtime: %" PRIu64 " ms\n",
                       member_u64(ret, "downtime"));
    }
    if (mon_json_object_get(ret, "setup-time")) {
        mon_req_printf(req, "setup: %" PRIu64 " ms\n",
                       member_u64(ret, "setup-time"));
    }
    if (!ram) {
        return;
    }
    {
        char buf[64] = "0.00";

        if (mbps && mon_json_type(mbps) == MON_JSON_NUMBER) {
            char *text = NULL;

            /* The value as the JSON printer has it, to two decimals. */
            if (mon_json_to_text(mbps, false, &text) == 0) {
                snprintf(buf, sizeof(buf), "%.2f", strtod(text, NULL));
                mon_json_text_free(text);
            }
        }
        mon_req_printf(req, "transferred ram: %" PRIu64 " kbytes\n",
                       member_u64(ram, "transferred") >> 10);
        mon_req_printf(req, "throughput: %s mbps\n", buf);
    }
    mon_req_printf(req, "remaining ram: %" PRIu64 " kbytes\n",
                   member_u64(ram, "remaining") >> 10);
    mon_req_printf(req, "total ram: %" PRIu64 " kbytes\n",
                   member_u64(ram, "total") >> 10);
    mon_req_printf(req, "duplicate: %" PRIu64 " pages\n",
                   member_u64(ram, "duplicate"));
    mon_req_printf(req, "skipped: 0 pages\n");
    mon_req_printf(req, "normal: %" PRIu64 " pages\n",
                   member_u64(ram, "normal"));
    mon_req_printf(req, "normal bytes: %" PRIu64 " kbytes\n",
                   member_u64(ram, "normal-bytes") >> 10);
    mon_req_printf(req, "dirty sync count: %" PRIu64 "\n",
                   member_u64(ram, "dirty-sync-count"));
    mon_req_printf(req, "page size: 4 kbytes\n");
    mon_req_printf(req, "multifd bytes: 0 kbytes\n");
    mon_req_printf(req, "pages-per-second: 0\n");
    if (member_u64(ram, "downtime-bytes")) {
        mon_req_printf(req, "downtime ram: %" PRIu64 " kbytes\n",
                       member_u64(ram, "downtime-bytes") >> 10);
    }
}

static int cap_index(const char *name)
{
    for (size_t i = 0; name && i < NB_CAPS; i++) {
        if (!strcmp(cap_names[i], name)) {
            return (int)i;
        }
    }
    return -1;
}

static int caps_settable(struct vm_mon_migrate *mm, struct err *err)
{
    if (mm->g) {
        struct rv_mig_info i;

        rv_mig_info(mm->g, &i);
        if (i.status == RV_MIG_SETUP || i.status == RV_MIG_ACTIVE) {
            return err_set(err, -EBUSY,
                           "There's a migration process in progress");
        }
    }
    return 0;
}

static int cmd_set_caps(struct mon_req *req, struct err *err)
{
    struct vm_mon_migrate *mm = mon_req_opaque(req);
    const struct mon_json *caps =
        mon_json_object_get(mon_req_args(req), "capabilities");
    bool next[NB_CAPS];
    int ret = caps_settable(mm, err);

    if (ret < 0) {
        return ret;
    }
    memcpy(next, mm->caps, sizeof(next));
    for (size_t i = 0; caps && i < mon_json_len(caps); i++) {
        const struct mon_json *c = mon_json_array_get(caps, i);
        const struct mon_json *n = mon_json_object_get(c, "capability");
        const struct mon_json *s = mon_json_object_get(c, "state");
        const char *name = n ? mon_json_str_get(n) : NULL;
        int k = cap_index(name);
        bool on = false;

        if (k < 0) {
            return err_set(err, -EINVAL,
                           "Parameter 'capability' does not accept value "
                           "'%s'",
                           name ? name : "");
        }
        if (s) {
            mon_json_bool_get(s, &on);
        }
        next[k] = on;
    }
    memcpy(mm->caps, next, sizeof(next));
    return 0;
}

static int cmd_hmp_set_cap(struct mon_req *req, struct err *err)
{
    struct vm_mon_migrate *mm = mon_req_opaque(req);
    const char *name = mon_req_arg_str(req, "capability");
    int k = cap_index(name);
    bool on = false;
    int ret = caps_settable(mm, err);

    if (ret < 0) {
        return ret;
    }
    if (k < 0) {
        /* QEMU's hmp_handle_error(): printed, not failed. */
        mon_req_printf(req, "Error: invalid parameter value: %s\n",
                       name ? name : "");
        return 0;
    }
    mon_req_arg_bool(req, "state", &on);
    mm->caps[k] = on;
    return 0;
}

static int cmd_query_caps(struct mon_req *req, struct err *err)
{
    struct vm_mon_migrate *mm = mon_req_opaque(req);
    struct mon_json *arr = mon_json_array_new();

    if (!arr) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < NB_CAPS; i++) {
        struct mon_json *o = mon_json_object_new();

        if (!o) {
            mon_json_free(arr);
            return err_set(err, -ENOMEM, "out of memory");
        }
        mon_json_object_set_take(o, "state", mon_json_bool_new(mm->caps[i]));
        mon_json_object_set_take(o, "capability",
                                 mon_json_str_new(cap_names[i]));
        mon_json_array_append_take(arr, o);
    }
    mon_req_return_take(req, arr);
    return 0;
}

static void fmt_caps(struct mon_req *req, const struct mon_json *ret)
{
    for (size_t i = 0; i < mon_json_len(ret); i++) {
        const struct mon_json *o = mon_json_array_get(ret, i);
        const struct mon_json *n = mon_json_object_get(o, "capability");
        const struct mon_json *s = mon_json_object_get(o, "state");
        bool on = false;

        if (s) {
            mon_json_bool_get(s, &on);
        }
        mon_req_printf(req, "%s: %s\n", n ? mon_json_str_get(n) : "",
                       on ? "on" : "off");
    }
}

static const struct mon_cmd mig_cmds[] = {
    {"migrate", "migrate",
     "{uri:str,*blk:bool,*inc:bool,*detach:bool,"
     "*resume:bool}",
     NULL, "detach:-d,blk:-b,inc:-i,resume:-r,uri:s", "[-d] [-b] [-i] [-r] uri",
     "migrate to URI (using -d to not wait for completion)\n\t\t\t -b for "
     "migration without shared storage with full copy of disk\n\t\t\t -i for "
     "migration without shared storage with incremental copy of disk (base "
     "image shared between src and destination)\n\t\t\t -r to resume a "
     "paused migration",
     cmd_migrate, NULL, 0, NULL},
    {"migrate_cancel", "migrate_cancel", NULL, NULL, NULL, NULL,
     "cancel the current VM migration", cmd_migrate_cancel, NULL, 0, NULL},
    {"migrate-incoming", "migrate_incoming", "{uri:str}", NULL, "uri:s", "uri",
     "Continue an incoming migration from an -incoming defer",
     cmd_migrate_incoming, NULL, 0, NULL},
    {"query-migrate", "info migrate", NULL,
     "{*status:str,*setup-time:int,*downtime:int,*total-time:int,"
     "*ram:any,*error-desc:str,*socket-address:any}",
     NULL, NULL, "show migration status", cmd_query_migrate, fmt_migrate, 0,
     NULL},
    {"migrate-set-capabilities", NULL,
     "{capabilities:[{capability:str,state:bool}]}", NULL, NULL, NULL, NULL,
     cmd_set_caps, NULL, 0, NULL},
    {NULL, "migrate_set_capability", NULL, NULL, "capability:s,state:b",
     "capability state",
     "Enable/Disable the usage of a capability for migration", cmd_hmp_set_cap,
     NULL, MON_CMD_HMP_ONLY, NULL},
    {"query-migrate-capabilities", "info migrate_capabilities", NULL,
     "[{capability:str,state:bool}]", NULL, NULL,
     "show current migration capabilities", cmd_query_caps, fmt_caps, 0, NULL},
};

int vm_mon_migrate_register(struct mon *mon, struct rv_machine *const *m,
                            struct vm_mon_migrate **out, struct err *err)
{
    size_t n = sizeof(mig_cmds) / sizeof(mig_cmds[0]);
    struct vm_mon_migrate *mm = mem_calloc(1, sizeof(*mm));
    int ret;

    if (!mm) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    mm->m = m;
    mm->mon = mon;
    mm->autostart = true;
    ret = vm_mon_cmds_register(mon, mig_cmds, n, mm, &mm->cmds, err);
    if (ret < 0) {
        vm_mon_migrate_free(mm);
        return ret;
    }
    *out = mm;
    return 0;
}

void vm_mon_migrate_free(struct vm_mon_migrate *mm)
{
    if (!mm) {
        return;
    }
    if (mm->hold_timer && *mm->m) {
        loop_timer_del(rv_machine_loop(*mm->m), mm->hold_timer);
    }
    rv_mig_free(mm->g);
    mem_free(mm->cmds);
    mem_free(mm);
}

int vm_mon_migrate_incoming(struct vm_mon_migrate *mm, const char *uri,
                            bool autostart, struct err *err)
{
    struct rv_mig *g;

    mm->autostart = autostart;
    rv_machine_set_runstate(*mm->m, RV_RUN_INMIGRATE);
    if (!strcmp(uri, "defer")) {
        mm->incoming_defer = true;
        return 0;
    }
    g = mig_get(mm, err);
    if (!g) {
        return -EAGAIN;
    }
    snprintf(mm->listen_uri, sizeof(mm->listen_uri), "%s", uri);
    return rv_mig_incoming(g, uri, autostart, err);
}

bool vm_mon_migrate_failed(const struct vm_mon_migrate *mm)
{
    return mm && mm->incoming_failed;
}

int vm_mon_migrate_cont(struct vm_mon_migrate *mm, struct err *err)
{
    enum rv_runstate rs;

    if (!mm || !*mm->m) {
        return 0;
    }
    rs = rv_machine_runstate(*mm->m);
    if (rs == RV_RUN_INMIGRATE) {
        mm->autostart = true;
        if (mm->g) {
            rv_mig_set_autostart(mm->g, true);
        }
        return 1;
    }
    if (rs == RV_RUN_FINISH_MIGRATE) {
        return err_set(err, -EBUSY, "There's a migration process in progress");
    }
    /* QEMU's bdrv_activate_all() before a source runs again. */
    if (rs == RV_RUN_POSTMIGRATE) {
        return rv_machine_blk_set_inactive(*mm->m, false, err);
    }
    return 0;
}
