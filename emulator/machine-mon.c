/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-mon.c - the rrvm binary's monitor glue: one monitor
 * session per chardev front-end, the machine's commands (run control,
 * identity, chardevs, the rrvm state-hash and stop-at extensions) and the
 * machine's events as QMP events.
 */
#include "emulator/machine-mon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/hash.h"
#include "emulator/rv-disas.h"
#include "emulator/machine-mon-int.h"
#include "monitor/mon.h"

#define VM_MAX_CONNS 16
/* Monitor output held while a mux front-end is out of focus (QEMU keeps
 * it in the monitor's buffer until MUX_IN). */
#define VM_MUX_HOLD (64u << 10)

struct vm_conn {
    struct vm_mon *vm;
    struct mon_session *s;
    struct chr_fe *fe;
    bool qmp;
    bool mux_out;    /* a mux front-end without the focus */
    bool opened;     /* the session got mon_session_open() */
    bool reset_seen; /* QEMU's mon->reset_seen */
    char *held;      /* output while mux_out; VM_MUX_HOLD */
    size_t held_len;
};

struct vm_mon {
    struct mon *mon;
    struct rv_machine *m;
    struct chr_ctx *chrs;
    char *name; /* NULL if none */
    char uuid[37];
    struct vm_conn *conns[VM_MAX_CONNS];
    unsigned nb_conns;
    struct mon_cmd *cmds; /* machine_cmds with opaque = this */
    struct vm_mon_info *info;
    struct vm_mon_block *block; /* machine-mon-block.c */
    struct vm_mon_snap *snap;   /* machine-mon-snap.c */
    struct vm_mon_migrate *mig; /* machine-mon-migrate.c */
};

/* ---- sessions on chardevs ---- */

static void conn_out(void *opaque, const char *buf, size_t len)
{
    struct vm_conn *c = opaque;

    if (c->mux_out) {
        size_t room = VM_MUX_HOLD - c->held_len;

        if (!c->held) {
            c->held = mem_alloc(VM_MUX_HOLD);
            if (!c->held) {
                return;
            }
        }
        if (len > room) {
            len = room;
        }
        memcpy(c->held + c->held_len, buf, len);
        c->held_len += len;
        return;
    }
    chr_fe_write(c->fe, buf, len);
}

static void conn_read(void *opaque, const uint8_t *src, size_t len)
{
    struct vm_conn *c = opaque;

    mon_session_input(c->s, src, len);
}

static void conn_event(void *opaque, enum chr_event ev)
{
    struct vm_conn *c = opaque;

    switch (ev) {
    case CHR_EVENT_OPENED:
        if (c->opened) {
            mon_session_close(c->s);
        }
        c->opened = true;
        c->reset_seen = true;
        mon_session_open(c->s);
        break;
    case CHR_EVENT_CLOSED:
        if (c->opened) {
            mon_session_close(c->s);
            c->opened = false;
        }
        break;
    case CHR_EVENT_MUX_IN:
        if (c->qmp) {
            break;
        }
        c->mux_out = false;
        if (c->held_len) {
            chr_fe_write(c->fe, c->held, c->held_len);
            c->held_len = 0;
        } else if (c->reset_seen) {
            /* QEMU's monitor_resume(): a fresh line and the prompt. */
            mon_session_focus(c->s);
        }
        break;
    case CHR_EVENT_MUX_OUT:
        if (c->qmp) {
            break;
        }
        if (c->reset_seen && !c->mux_out) {
            conn_out(c, "\r\n", 2);
        }
        c->mux_out = true;
        break;
    case CHR_EVENT_BREAK:
        break;
    }
}

static const struct chr_fe_ops conn_ops = {NULL, conn_read, conn_event};

int vm_mon_attach(struct vm_mon *vm, struct chr *chr, bool qmp, bool pretty,
                  struct err *err)
{
    struct vm_conn *c;
    int ret;

    if (vm->nb_conns == VM_MAX_CONNS) {
        return err_set(err, -ENOSPC, "at most %d monitors", VM_MAX_CONNS);
    }
    c = mem_calloc(1, sizeof(*c));
    if (!c) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    c->vm = vm;
    c->qmp = qmp;
    ret = mon_session_new(vm->mon, qmp ? MON_MODE_QMP : MON_MODE_HMP, pretty,
                          conn_out, c, &c->s, err);
    if (ret < 0) {
        mem_free(c);
        return ret;
    }
    ret = chr_fe_attach(chr, &conn_ops, c, &c->fe, err);
    if (ret < 0) {
        mon_session_free(c->s);
        mem_free(c);
        return ret;
    }
    vm->conns[vm->nb_conns++] = c;
    return 0;
}

/* ---- events ---- */

void vm_mon_event(void *opaque, enum rv_event ev, enum rv_shutdown_cause cause)
{
    static const char *const names[] = {
        [RV_EVENT_STOP] = "STOP",           [RV_EVENT_RESUME] = "RESUME",
        [RV_EVENT_RESET] = "RESET",         [RV_EVENT_SHUTDOWN] = "SHUTDOWN",
        [RV_EVENT_POWERDOWN] = "POWERDOWN",
    };
    struct vm_mon *vm = opaque;
    struct mon_json *data = NULL;

    if (ev == RV_EVENT_RESET || ev == RV_EVENT_SHUTDOWN) {
        data = mon_json_object_new();
        if (!data ||
            mon_json_object_set_take(
                data, "guest",
                mon_json_bool_new(rv_shutdown_cause_guest(cause))) < 0 ||
            mon_json_object_set_take(
                data, "reason",
                mon_json_str_new(rv_shutdown_cause_name(cause))) < 0) {
            mon_json_free(data);
            return;
        }
    }
    mon_event_emit(vm->mon, names[ev], data);
    mon_json_free(data);
}

/* ---- commands ---- */

static struct vm_mon *req_vm(struct mon_req *req)
{
    return mon_req_opaque(req);
}

static int no_machine(struct err *err)
{
    return err_set(err, -EAGAIN, "The machine is not ready");
}

static int return_take(struct mon_req *req, struct mon_json *v, struct err *err)
{
    if (!v) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    mon_req_return_take(req, v);
    return 0;
}

/* Set member @k of @o, taking @v (freed on failure, or if @o is NULL). */
static int obj_set(struct mon_json *o, const char *k, struct mon_json *v)
{
    if (!o) {
        mon_json_free(v);
        return -ENOMEM;
    }
    return mon_json_object_set_take(o, k, v);
}

static int cmd_query_status(struct mon_req *req, struct err *err)
{
    struct vm_mon *vm = req_vm(req);
    struct mon_json *o = mon_json_object_new();
    enum rv_runstate st;

    if (!vm->m) {
        mon_json_free(o);
        return no_machine(err);
    }
    st = rv_machine_runstate(vm->m);
    if (obj_set(o, "status", mon_json_str_new(rv_runstate_name(st))) < 0 ||
        obj_set(o, "singlestep",
                mon_json_bool_new(vm_mon_info_singlestep(vm->info))) < 0 ||
        obj_set(o, "running", mon_json_bool_new(rv_machine_is_running(vm->m))) <
            0) {
        mon_json_free(o);
        return err_set(err, -ENOMEM, "out of memory");
    }
    return return_take(req, o, err);
}

/* HMP `info status` (QEMU's hmp_info_status). */
static void fmt_status(struct mon_req *req, const struct mon_json *ret)
{
    const char *st = mon_json_str_get(mon_json_object_get(ret, "status"));
    bool running = false, step = false;

    mon_json_bool_get(mon_json_object_get(ret, "running"), &running);
    mon_json_bool_get(mon_json_object_get(ret, "singlestep"), &step);
    mon_req_printf(req, "VM status: %s%s", running ? "running" : "paused",
                   step ? " (single step mode)" : "");
    if (!running && st && strcmp(st, "paused")) {
        mon_req_printf(req, " (%s)", st);
    }
    mon_req_printf(req, "\n");
}

static int cmd_stop(struct mon_req *req, struct err *err)
{
    struct vm_mon *vm = req_vm(req);

    if (!vm->m) {
        return no_machine(err);
    }
    rv_machine_stop(vm->m);
    return 0;
}

static int cmd_cont(struct mon_req *req, struct err *err)
{
    struct vm_mon *vm = req_vm(req);
    int ret;

    if (!vm->m) {
        return no_machine(err);
    }
    ret = vm_mon_migrate_cont(vm->mig, err);
    if (ret != 0) {
        return ret < 0 ? ret : 0;
    }
    /* QEMU's vm_prepare_start(): running and no stop pending, no events */
    if (rv_machine_is_running(vm->m)) {
        return 0;
    }
    return rv_machine_cont(vm->m, err);
}

static int cmd_system_reset(struct mon_req *req, struct err *err)
{
    struct vm_mon *vm = req_vm(req);

    if (!vm->m) {
        return no_machine(err);
    }
    rv_machine_system_reset(vm->m, RV_CAUSE_HOST_QMP_SYSTEM_RESET);
    return 0;
}

static int cmd_system_powerdown(struct mon_req *req, struct err *err)
{
    struct vm_mon *vm = req_vm(req);

    if (!vm->m) {
        return no_machine(err);
    }
    rv_machine_system_powerdown(vm->m);
    return 0;
}

static int cmd_quit(struct mon_req *req, struct err *err)
{
    struct vm_mon *vm = req_vm(req);

    if (!vm->m) {
        return no_machine(err);
    }
    rv_machine_quit(vm->m, RV_CAUSE_HOST_QMP_QUIT);
    mon_req_suspend(req); /* QEMU prints no prompt after quit */
    return 0;
}

static int cmd_query_name(struct mon_req *req, struct err *err)
{
    struct vm_mon *vm = req_vm(req);
    struct mon_json *o = mon_json_object_new();

    if (vm->name && obj_set(o, "name", mon_json_str_new(vm->name)) < 0) {
        mon_json_free(o);
        return err_set(err, -ENOMEM, "out of memory");
    }
    return return_take(req, o, err);
}

static void fmt_name(struct mon_req *req, const struct mon_json *ret)
{
    const char *n = mon_json_str_get(mon_json_object_get(ret, "name"));

    if (n) {
        mon_req_printf(req, "%s\n", n);
    }
}

static int cmd_query_uuid(struct mon_req *req, struct err *err)
{
    struct vm_mon *vm = req_vm(req);
    struct mon_json *o = mon_json_object_new();

    if (obj_set(o, "UUID", mon_json_str_new(vm->uuid)) < 0) {
        mon_json_free(o);
        return err_set(err, -ENOMEM, "out of memory");
    }
    return return_take(req, o, err);
}

static void fmt_uuid(struct mon_req *req, const struct mon_json *ret)
{
    mon_req_printf(req, "%s\n",
                   mon_json_str_get(mon_json_object_get(ret, "UUID")));
}

static int cmd_query_kvm(struct mon_req *req, struct err *err)
{
    struct mon_json *o = mon_json_object_new();

    if (obj_set(o, "enabled", mon_json_bool_new(false)) < 0 ||
        obj_set(o, "present", mon_json_bool_new(false)) < 0) {
        mon_json_free(o);
        return err_set(err, -ENOMEM, "out of memory");
    }
    return return_take(req, o, err);
}

static void fmt_kvm(struct mon_req *req, const struct mon_json *ret)
{
    bool present = false, enabled = false;

    mon_json_bool_get(mon_json_object_get(ret, "present"), &present);
    mon_json_bool_get(mon_json_object_get(ret, "enabled"), &enabled);
    mon_req_printf(req, "kvm support: ");
    if (present) {
        mon_req_printf(req, "%s\n", enabled ? "enabled" : "disabled");
    } else {
        mon_req_printf(req, "not compiled\n");
    }
}

static int cmd_query_target(struct mon_req *req, struct err *err)
{
    struct mon_json *o = mon_json_object_new();

    if (obj_set(o, "arch", mon_json_str_new("riscv64")) < 0) {
        mon_json_free(o);
        return err_set(err, -ENOMEM, "out of memory");
    }
    return return_take(req, o, err);
}

static int cmd_query_cpus_fast(struct mon_req *req, struct err *err)
{
    struct mon_json *a = mon_json_array_new();
    struct mon_json *cpu = mon_json_object_new();
    struct mon_json *props = mon_json_object_new();
    int ret = obj_set(cpu, "thread-id", mon_json_int_new(getpid()));

    if (ret == 0) {
        ret = obj_set(props, "core-id", mon_json_int_new(0));
    }
    if (ret == 0) {
        ret = obj_set(cpu, "props", props);
        props = NULL;
    }
    if (ret == 0) {
        ret = obj_set(cpu, "qom-path",
                      mon_json_str_new("/machine/soc0/harts[0]"));
    }
    if (ret == 0) {
        ret = obj_set(cpu, "cpu-index", mon_json_int_new(0));
    }
    if (ret == 0) {
        ret = obj_set(cpu, "target", mon_json_str_new("riscv64"));
    }
    if (ret == 0 && a) {
        ret = mon_json_array_append_take(a, cpu);
        cpu = NULL;
    }
    if (ret < 0 || !a) {
        mon_json_free(props);
        mon_json_free(cpu);
        mon_json_free(a);
        return err_set(err, -ENOMEM, "out of memory");
    }
    return return_take(req, a, err);
}

static int cmd_query_chardev(struct mon_req *req, struct err *err)
{
    struct vm_mon *vm = req_vm(req);
    struct mon_json *a = mon_json_array_new();

    if (!a) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < chr_count(vm->chrs); i++) {
        struct chr *c = chr_at(vm->chrs, i);
        struct mon_json *o = mon_json_object_new();

        if (obj_set(o, "frontend-open", mon_json_bool_new(chr_fe_attached(c))) <
                0 ||
            obj_set(o, "filename",
                    mon_json_str_new(chr_is_mux(c) ? "mux" : chr_filename(c))) <
                0 ||
            obj_set(o, "label", mon_json_str_new(chr_label(c))) < 0) {
            mon_json_free(o);
            mon_json_free(a);
            return err_set(err, -ENOMEM, "out of memory");
        }
        if (mon_json_array_append_take(a, o) < 0) {
            mon_json_free(a);
            return err_set(err, -ENOMEM, "out of memory");
        }
        /* QEMU's mux is a chardev of its own over "<id>-base". */
        if (chr_is_mux(c)) {
            struct mon_json *b = mon_json_object_new();
            char label[128];

            snprintf(label, sizeof(label), "%s-base", chr_label(c));
            if (obj_set(b, "frontend-open", mon_json_bool_new(true)) < 0 ||
                obj_set(b, "filename", mon_json_str_new(chr_filename(c))) < 0 ||
                obj_set(b, "label", mon_json_str_new(label)) < 0) {
                mon_json_free(b);
                mon_json_free(a);
                return err_set(err, -ENOMEM, "out of memory");
            }
            if (mon_json_array_append_take(a, b) < 0) {
                mon_json_free(a);
                return err_set(err, -ENOMEM, "out of memory");
            }
        }
    }
    return return_take(req, a, err);
}

/* HMP `info chardev` (QEMU's hmp_info_chardev). */
static void fmt_chardev(struct mon_req *req, const struct mon_json *ret)
{
    for (size_t i = 0; i < mon_json_len(ret); i++) {
        const struct mon_json *o = mon_json_array_get(ret, i);

        mon_req_printf(req, "%s: filename=%s\n",
                       mon_json_str_get(mon_json_object_get(o, "label")),
                       mon_json_str_get(mon_json_object_get(o, "filename")));
    }
}

/* rrvm extension: the icount and the SHA-256 state hash, now. */
static int cmd_statehash(struct mon_req *req, struct err *err)
{
    struct vm_mon *vm = req_vm(req);
    uint8_t h[RV_STATE_HASH_LEN];
    char hex[2 * RV_STATE_HASH_LEN + 1];
    struct mon_json *o;
    int ret;

    if (!vm->m) {
        return no_machine(err);
    }
    ret = rv_machine_state_hash(vm->m, h);
    if (ret < 0) {
        return err_set(err, ret, "cannot hash the machine state");
    }
    hash_hex(h, sizeof(h), hex);
    o = mon_json_object_new();
    if (obj_set(o, "icount", mon_json_uint_new(rv_machine_icount(vm->m))) < 0 ||
        obj_set(o, "statehash", mon_json_str_new(hex)) < 0) {
        mon_json_free(o);
        return err_set(err, -ENOMEM, "out of memory");
    }
    return return_take(req, o, err);
}

static void fmt_statehash(struct mon_req *req, const struct mon_json *ret)
{
    int64_t ic = 0;

    mon_json_int_get(mon_json_object_get(ret, "icount"), &ic);
    mon_req_printf(req, "icount %" PRIu64 " statehash %s\n", (uint64_t)ic,
                   mon_json_str_get(mon_json_object_get(ret, "statehash")));
}

/* rrvm extension: pause when the icount reaches an exact value. */
static int cmd_stop_at(struct mon_req *req, struct err *err)
{
    struct vm_mon *vm = req_vm(req);
    int64_t ic = 0;

    if (!vm->m) {
        return no_machine(err);
    }
    if (!mon_req_arg_int(req, "icount", &ic) || ic < 0) {
        return err_set(err, -EINVAL,
                       "Parameter 'icount' expects a non-negative integer");
    }
    return rv_machine_stop_at(vm->m, (uint64_t)ic, err);
}

/* HMP `info registers [-a|vcpu]` (QEMU's hmp_info_registers). */
static int cmd_info_registers(struct mon_req *req, struct err *err)
{
    struct vm_mon *vm = req_vm(req);
    char buf[RV_MACHINE_DUMP_MAX];
    bool all = false;
    int64_t vcpu = -1;

    if (!vm->m) {
        return no_machine(err);
    }
    mon_req_arg_bool(req, "cpustate_all", &all);
    mon_req_arg_int(req, "vcpu", &vcpu);
    /* the board has one hart, CPU#0 */
    if (!all && vcpu > 0) {
        mon_req_printf(req, "CPU#%" PRId64 " not available\n", vcpu);
        return 0;
    }
    /* QEMU 7.2 heads the one hart's dump with its index, -a or not. */
    rv_machine_dump_registers(vm->m, buf, sizeof(buf));
    mon_req_printf(req, "\nCPU#0\n%s", buf);
    return 0;
}

/* QEMU's monitor_printc. */
static void printc(struct mon_req *req, unsigned c)
{
    mon_req_printf(req, "'");
    switch (c) {
    case '\'':
        mon_req_printf(req, "\\'");
        break;
    case '\\':
        mon_req_printf(req, "\\\\");
        break;
    case '\n':
        mon_req_printf(req, "\\n");
        break;
    case '\r':
        mon_req_printf(req, "\\r");
        break;
    default:
        if (c >= 32 && c <= 126) {
            mon_req_printf(req, "%c", c);
        } else {
            mon_req_printf(req, "\\x%02x", c);
        }
        break;
    }
    mon_req_printf(req, "'");
}

/* QEMU's monitor_disas for `x/Ni` and `xp/Ni`. */
static void disas(struct mon_req *req, struct rv_machine *m, uint64_t addr,
                  int64_t count, bool virt)
{
    char line[RV_DISAS_LINE_MAX + 1];

    for (; count > 0; count--) {
        uint8_t b[4] = {0};
        size_t avail = 4, n;
        uint64_t raw;

        if (rv_machine_mem_read(m, addr, virt, b, 2) < 0) {
            /* QEMU's perror_memory(); print_insn_riscv() then returns EIO,
             * which QEMU's loop takes for a length: it steps by 5 */
            mon_req_printf(req,
                           "0x%016" PRIx64 ":  Address 0x%" PRIx64
                           " is out of bounds.\n\n",
                           addr, addr);
            addr += EIO;
            continue;
        }
        if ((b[0] & 3) != 3) {
            avail = 2;
        } else if (rv_machine_mem_read(m, addr + 2, virt, b + 2, 2) < 0) {
            avail = 2;
        }
        raw = (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 |
              (uint64_t)b[3] << 24;
        n = rv_disas_line(addr, raw, avail, line, sizeof(line));
        mon_req_printf(req, "%s\n", line);
        addr += n;
    }
}

/* QEMU's memory_dump: `x` (virtual) and `xp` (physical). */
static int memory_dump(struct mon_req *req, bool virt, struct err *err)
{
    struct vm_mon *vm = req_vm(req);
    int64_t count = 1, format = 'x', size = 4, addr = 0;
    int64_t len;
    int line_size, digits = 0;

    if (!vm->m) {
        return no_machine(err);
    }
    mon_req_arg_int(req, "count", &count);
    mon_req_arg_int(req, "format", &format);
    mon_req_arg_int(req, "size", &size);
    mon_req_arg_int(req, "addr", &addr);
    if (format == 'i') {
        disas(req, vm->m, (uint64_t)addr, count, virt);
        return 0;
    }
    if (size != 1 && size != 2 && size != 4 && size != 8) {
        size = 4;
    }
    len = size * count;
    line_size = size == 1 ? 8 : 16;
    switch (format) {
    case 'o':
        digits = (int)((size * 8 + 2) / 3);
        break;
    case 'u':
    case 'd':
        digits = (int)((size * 8 * 10 + 32) / 33);
        break;
    case 'c':
        size = 1;
        break;
    default:
        format = 'x';
        digits = (int)(size * 8 / 4);
        break;
    }
    while (len > 0) {
        uint8_t buf[16];
        int l = len > line_size ? line_size : (int)len;

        mon_req_printf(req, "%016" PRIx64 ":", (uint64_t)addr);
        if (rv_machine_mem_read(vm->m, (uint64_t)addr, virt, buf, (size_t)l) <
            0) {
            mon_req_printf(req, " Cannot access memory\n");
            break;
        }
        for (int i = 0; i < l; i += (int)size) {
            uint64_t v = 0;

            for (int k = (int)size - 1; k >= 0; k--) {
                v = v << 8 | (i + k < l ? buf[i + k] : 0);
            }
            mon_req_printf(req, " ");
            switch (format) {
            case 'o':
                mon_req_printf(req, "%#*" PRIo64, digits, v);
                break;
            case 'u':
                mon_req_printf(req, "%*" PRIu64, digits, v);
                break;
            case 'd':
                mon_req_printf(req, "%*" PRId64, digits, (int64_t)v);
                break;
            case 'c':
                printc(req, (unsigned)v);
                break;
            default:
                mon_req_printf(req, "0x%0*" PRIx64, digits, v);
                break;
            }
        }
        mon_req_printf(req, "\n");
        addr += l;
        len -= l;
    }
    return 0;
}

static int cmd_x(struct mon_req *req, struct err *err)
{
    return memory_dump(req, true, err);
}

static int cmd_xp(struct mon_req *req, struct err *err)
{
    return memory_dump(req, false, err);
}

static const struct mon_cmd machine_cmds[] = {
    {"query-status", "info status", NULL,
     "{running:bool,singlestep:bool,status:enum(debug|inmigrate|internal-"
     "error|io-error|paused|postmigrate|prelaunch|finish-migrate|restore-vm|"
     "running|save-vm|shutdown|suspended|watchdog|guest-panicked|colo)}",
     NULL, NULL, "show the current VM status (running|paused)",
     cmd_query_status, fmt_status, 0, NULL},
    {"stop", "stop|s", NULL, NULL, NULL, NULL, "stop emulation", cmd_stop, NULL,
     0, NULL},
    {"cont", "cont|c", NULL, NULL, NULL, NULL, "resume emulation", cmd_cont,
     NULL, 0, NULL},
    {"system_reset", "system_reset", NULL, NULL, NULL, NULL, "reset the system",
     cmd_system_reset, NULL, 0, NULL},
    {"system_powerdown", "system_powerdown", NULL, NULL, NULL, NULL,
     "send system power down event", cmd_system_powerdown, NULL, 0, NULL},
    {"quit", "quit|q", NULL, NULL, NULL, NULL, "quit the emulator", cmd_quit,
     NULL, 0, NULL},
    {"query-name", "info name", NULL, "{*name:str}", NULL, NULL,
     "show the current VM name", cmd_query_name, fmt_name, 0, NULL},
    {"query-uuid", "info uuid", NULL, "{UUID:str}", NULL, NULL,
     "show the current VM UUID", cmd_query_uuid, fmt_uuid, 0, NULL},
    {"query-kvm", "info kvm", NULL, "{enabled:bool,present:bool}", NULL, NULL,
     "show KVM information", cmd_query_kvm, fmt_kvm, 0, NULL},
    {"query-target", NULL, NULL, "{arch:str}", NULL, NULL, NULL,
     cmd_query_target, NULL, 0, NULL},
    {"query-cpus-fast", NULL, NULL,
     "[{thread-id:int,*props:{*core-id:int},"
     "qom-path:str,cpu-index:int,target:str}]",
     NULL, NULL, NULL, cmd_query_cpus_fast, NULL, 0, NULL},
    {"query-chardev", "info chardev", NULL,
     "[{frontend-open:bool,filename:str,label:str}]", NULL, NULL,
     "show the character devices", cmd_query_chardev, fmt_chardev, 0, NULL},
    {"__org.rrvm_query-statehash", "info statehash", NULL,
     "{icount:int,statehash:str}", NULL, NULL,
     "show the instruction count and the SHA-256 of the machine state",
     cmd_statehash, fmt_statehash, 0, NULL},
    {NULL, "info registers", NULL, NULL, "cpustate_all:-a,vcpu:i?", "[-a|vcpu]",
     "show the cpu registers (-a: show register info for all cpus; vcpu: "
     "specific vCPU to query; show the current CPU's registers if no "
     "argument is specified)",
     cmd_info_registers, NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "x", NULL, NULL, "fmt:/,addr:l", "/fmt addr",
     "virtual memory dump starting at 'addr'", cmd_x, NULL, MON_CMD_HMP_ONLY,
     NULL},
    {NULL, "xp", NULL, NULL, "fmt:/,addr:l", "/fmt addr",
     "physical memory dump starting at 'addr'", cmd_xp, NULL, MON_CMD_HMP_ONLY,
     NULL},
    {"__org.rrvm_stop-at", "stop_at", "{icount:int}", NULL, "icount:l",
     "icount", "pause when the instruction count reaches icount", cmd_stop_at,
     NULL, 0, NULL},
};

/* ---- lifecycle ---- */

struct mon *vm_mon_monitor(struct vm_mon *vm)
{
    return vm->mon;
}

int vm_mon_cmds_register(struct mon *mon, const struct mon_cmd *table, size_t n,
                         void *opaque, struct mon_cmd **copy, struct err *err)
{
    struct mon_cmd *c = mem_alloc(n * sizeof(*c));

    if (!c) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    memcpy(c, table, n * sizeof(*c));
    for (size_t i = 0; i < n; i++) {
        c[i].opaque = opaque;
    }
    *copy = c;
    return mon_cmd_register(mon, c, n, err);
}

int vm_mon_new(const struct vm_mon_config *cfg, struct vm_mon **out,
               struct err *err)
{
    struct mon_config mc = {7, 2, 0, cfg->qemu_pkg, NULL, NULL, NULL, NULL, 1};

    struct vm_mon *vm;
    int ret;

    vm = mem_calloc(1, sizeof(*vm));
    if (!vm) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    vm->chrs = cfg->chrs;
    snprintf(vm->uuid, sizeof(vm->uuid), "%s",
             cfg->uuid ? cfg->uuid : "00000000-0000-0000-0000-000000000000");
    if (cfg->name) {
        vm->name = mem_strdup(cfg->name);
        if (!vm->name) {
            mem_free(vm);
            return err_set(err, -ENOMEM, "out of memory");
        }
    }
    ret = vm_mon_info_new(&mc, &vm->m, vm->chrs, &vm->mon, &vm->info, err);
    if (ret == 0) {
        ret = vm_mon_cmds_register(vm->mon, machine_cmds,
                                   ARRAY_LEN(machine_cmds), vm, &vm->cmds, err);
    }
    if (ret == 0) {
        ret = vm_mon_block_register(vm->mon, &vm->m, cfg->drives,
                                    cfg->nb_drives, &vm->block, err);
    }
    if (ret == 0) {
        ret = vm_mon_snap_register(vm->mon, &vm->m, cfg->drives, cfg->nb_drives,
                                   &vm->snap, err);
    }
    if (ret == 0) {
        ret = vm_mon_migrate_register(vm->mon, &vm->m, &vm->mig, err);
    }
    if (ret < 0) {
        vm_mon_free(vm);
        return ret;
    }
    *out = vm;
    return 0;
}

void vm_mon_set_machine(struct vm_mon *vm, struct rv_machine *m)
{
    vm->m = m;
}

struct vm_mon_migrate *vm_mon_migration(struct vm_mon *vm)
{
    return vm ? vm->mig : NULL;
}

int vm_mon_commit_all(struct vm_mon *vm, struct err *err)
{
    return vm ? vm_mon_block_commit_all(vm->block, err) : 0;
}

void vm_mon_free(struct vm_mon *vm)
{
    if (!vm) {
        return;
    }
    for (unsigned i = 0; i < vm->nb_conns; i++) {
        struct vm_conn *c = vm->conns[i];

        chr_fe_detach(c->fe);
        mon_session_free(c->s);
        mem_free(c->held);
        mem_free(c);
    }
    mon_free(vm->mon);
    vm_mon_info_free(vm->info);
    vm_mon_block_free(vm->block);
    vm_mon_snap_free(vm->snap);
    vm_mon_migrate_free(vm->mig);
    mem_free(vm->cmds);
    mem_free(vm->name);
    mem_free(vm);
}
