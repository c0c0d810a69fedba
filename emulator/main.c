/* SPDX-License-Identifier: MIT */
/*
 * emulator/main.c - the rrvm binary: parse QEMU-style options into a
 * machine configuration, run the machine, report how it ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chardev/chardev.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/opts.h"
#include "emulator/machine-catalog.h"
#include "emulator/machine-mon.h"
#include "emulator/rv-int.h"
#include "emulator/rv.h"
#include "emulator/rv-int.h"

#define PROG         "rrvm"
#define RRVM_VERSION "0.1.0"
#define MAX_DRIVES   8
#define MAX_DEVICES  16
#define MAX_PROPS    24
#define MAX_OBJECTS  4
#define MAX_OWNED    64  /* option lists kept for the machine's strings */
#define MAX_CHARDEVS 16  /* -chardev, -monitor, -qmp */
#define MAX_MONS     8   /* -mon, -monitor, -qmp */
#define MAX_STRS     128 /* -readconfig: option strings and locations */
#define DEFAULT_BIOS "/usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin"

/* One "-drive" as given. */
struct drive {
    const char *id;
    struct rv_drive_config cfg;
    bool if_none; /* if=none: attached by -device virtio-blk-device */
    bool used;
    const char *node_name; /* node-name=; NULL: automatic */
    char device[32];       /* the BlockBackend name when id= is absent */
    char qdev[64];         /* QOM path of its device; "" if none */
};

/* A chardev to create, in command-line order: -chardev, or the legacy
 * spelling of -monitor/-qmp. */
struct chardev_arg {
    const char *opt; /* "chardev", "monitor", "qmp", "qmp-pretty" */
    const char *arg; /* as typed */
    struct opts *o;  /* -chardev only */
    char label[32];  /* -monitor/-qmp: compat_monitorN */
    const char *loc; /* -readconfig "FILE:LINE" ("": none); NULL: argv */
};

/* A monitor to attach. */
struct mon_arg {
    const char *opt, *arg; /* for messages */
    const char *chardev;   /* chardev id */
    bool qmp, pretty;
    const char *loc; /* as chardev_arg.loc */
};

struct cli {
    struct rv_machine_config mc;
    struct chardev_arg chardevs[MAX_CHARDEVS];
    unsigned nb_chardevs;
    struct mon_arg mons[MAX_MONS];
    unsigned nb_mons;
    unsigned nb_compat_mons;
    bool default_serial, default_monitor, default_parallel;
    bool daemonize;
    const char *name, *uuid;
    struct drive drives[MAX_DRIVES];
    unsigned nb_drives;
    const char *devices[MAX_DEVICES];     /* -device values, in order */
    const char *device_locs[MAX_DEVICES]; /* as chardev_arg.loc */
    unsigned nb_devices;
    unsigned nb_anon_devices; /* QEMU's /machine/peripheral-anon/device[N] */
    struct vm_mon_drive mon_drives[MAX_DRIVES];
    const char *serial;
    bool nographic;
    bool snapshot;
    bool statehash;
    bool bios_set;
    const char *pidfile;
    const char *loadvm;   /* -loadvm TAG; NULL if none */
    const char *catalog;  /* -catalog FILE; NULL: RRVM_CATALOG or default */
    const char *incoming; /* -incoming URI or "defer"; NULL if none */
    const char *logfile;
    struct opts *owned[MAX_OWNED]; /* parsed option lists */
    struct {
        const char *id;
        const char *file;
    } rng_objs[MAX_OBJECTS]; /* -object rng-random / rng-builtin */
    unsigned nb_rng_objs;
    unsigned nb_owned;
    char *strs[MAX_STRS]; /* strings built from -readconfig files */
    unsigned nb_strs;
};

/* Keep @p until cli_free(): the machine config borrows its strings. */
static int cli_keep(struct cli *o, struct opts *p)
{
    if (o->nb_owned == MAX_OWNED) {
        opts_free(p);
        return -1;
    }
    o->owned[o->nb_owned++] = p;
    return 0;
}

/* A copy of @s kept until cli_free(), or NULL (out of memory or room). */
static const char *cli_strdup(struct cli *o, const char *s)
{
    char *c;

    if (o->nb_strs == MAX_STRS || !(c = strdup(s))) {
        return NULL;
    }
    o->strs[o->nb_strs++] = c;
    return c;
}

static void cli_free(struct cli *o)
{
    for (unsigned i = 0; i < o->nb_owned; i++) {
        opts_free(o->owned[i]);
    }
    for (unsigned i = 0; i < o->nb_strs; i++) {
        free(o->strs[i]);
    }
}

static volatile int quit_flag;
static volatile int quit_signal, quit_pid;
static struct loop *main_loop;
static FILE *log_file;

static void on_signal(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    quit_signal = sig;
    quit_pid = info ? (int)info->si_pid : 0;
    quit_flag = 1;
    if (main_loop) {
        loop_wake(main_loop);
    }
}

/* QEMU's "terminating on signal N from pid P (comm)". */
static void report_signal(void)
{
    char path[64], comm[64] = "";
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/comm", quit_pid);
    f = quit_pid > 0 ? fopen(path, "r") : NULL;
    if (f) {
        if (fgets(comm, sizeof(comm), f)) {
            comm[strcspn(comm, "\n")] = '\0';
        }
        fclose(f);
    }
    if (quit_pid > 0) {
        fprintf(stderr, PROG ": terminating on signal %d from pid %d (%s)\n",
                quit_signal, quit_pid, comm);
    } else {
        fprintf(stderr, PROG ": terminating on signal %d\n", quit_signal);
    }
}

/*
 * Where an option being applied came from. NULL: the command line, and
 * messages read "rrvm: -opt arg: msg". Otherwise a -readconfig group, and
 * messages read QEMU's way: "rrvm:FILE:LINE: msg" ("rrvm: msg" when the
 * location is "", before any key line), without the "-opt arg: " prefix.
 */
static const char *fail_loc, *fail_opt, *fail_arg;

static void fail_at(const char *loc, const char *opt, const char *arg)
{
    fail_loc = loc;
    fail_opt = opt;
    fail_arg = arg;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- wiring chardevs, the serial port and the monitors ---- */

struct host {
    struct rv_machine *m;
    struct vm_mon *vm; /* NULL until the monitor exists */
    struct chr_fe *serial_fe;
    const char *opt, *arg; /* the option being processed, for messages */
    bool quit_early;       /* Ctrl-a x before the machine exists */
};

static void host_info(void *opaque, bool located, const char *line)
{
    struct host *h = opaque;

    if (located) {
        fprintf(stderr, PROG ": -%s %s: info: %s\n", h->opt, h->arg, line);
    } else {
        fprintf(stderr, "%s\n", line);
    }
}

static void host_quit(void *opaque)
{
    struct host *h = opaque;

    if (h->m) {
        rv_machine_quit(h->m, RV_CAUSE_NONE);
    } else {
        h->quit_early = true;
    }
}

/* A signal asked to quit: stop waiting for a slow output reader. */
static bool host_interrupted(void *opaque)
{
    (void)opaque;
    return quit_flag != 0;
}

/* Ctrl-a s: QEMU's blk_commit_all(), silently. */
static void host_commit(void *opaque)
{
    struct host *h = opaque;

    vm_mon_commit_all(h->vm, NULL);
}

static size_t serial_can_read(void *opaque)
{
    struct host *h = opaque;

    return h->m ? rv_machine_serial_room(h->m) : 0;
}

static void serial_read(void *opaque, const uint8_t *src, size_t len)
{
    struct host *h = opaque;

    rv_machine_serial_input(h->m, src, len);
}

static void serial_out(void *opaque, const uint8_t *src, size_t len)
{
    struct host *h = opaque;

    chr_fe_write(h->serial_fe, src, len);
}

/* A BREAK (chardev-send-break, telnet, Ctrl-a b) takes the input hook's
 * path to the UART, behind the bytes already buffered. */
static void serial_event(void *opaque, enum chr_event ev)
{
    struct host *h = opaque;

    if (ev == CHR_EVENT_BREAK && h->m) {
        rv_machine_serial_break(h->m);
    }
}

static const struct chr_fe_ops serial_ops = {serial_can_read, serial_read,
                                             serial_event};

/* Create the chardevs of -chardev/-monitor/-qmp, in order. */
static int make_chardevs(struct cli *o, struct chr_ctx *ctx, struct host *h)
{
    for (unsigned i = 0; i < o->nb_chardevs; i++) {
        struct chardev_arg *c = &o->chardevs[i];
        struct chr *chr = NULL;
        struct err err = {0};
        bool mon = false;
        int ret;

        h->opt = c->opt;
        h->arg = c->arg;
        fail_at(c->loc, c->opt, c->arg);
        if (c->o) {
            ret = chr_new_opts(ctx, c->o, host_info, h, &chr, &err);
        } else {
            ret = chr_new_legacy(ctx, c->arg, c->label, host_info, h, &mon,
                                 &chr, &err);
        }
        if (ret < 0) {
            return fail("-%s %s: %s", c->opt, c->arg, err.msg);
        }
    }
    fail_at(NULL, NULL, NULL);
    return 0;
}

/* The serial port's chardev (NULL: none), with its mon: monitor. */
static int make_serial(struct cli *o, struct chr_ctx *ctx, struct host *h,
                       struct vm_mon *vm, struct chr **out)
{
    const char *spec = o->serial;
    struct chr *chr = NULL;
    struct err err = {0};
    bool mon = false;

    *out = NULL;
    /* QEMU's default parallel port chardev; this board has no port. */
    if (o->default_parallel &&
        chr_new_legacy(ctx, o->nographic ? "null" : "vc", "parallel0", NULL,
                       NULL, NULL, &chr, &err) < 0) {
        return fail("-parallel: %s", err.msg);
    }
    chr = NULL;
    if (!spec && o->default_serial) {
        if (o->nographic) {
            spec = o->default_monitor ? "mon:stdio" : "stdio";
        } else {
            spec = "vc";
        }
    }
    if (!spec || !strcmp(spec, "none")) {
        return 0;
    }
    h->opt = "serial";
    h->arg = spec;
    if (chr_new_legacy(ctx, spec, "serial0", host_info, h, &mon, &chr, &err) <
        0) {
        fail("-serial %s: %s", spec, err.msg);
        return fail("-serial %s: could not connect serial device to "
                    "character backend '%s'",
                    spec, spec);
    }
    if (mon && vm_mon_attach(vm, chr, false, false, &err) < 0) {
        return fail("-serial %s: %s", spec, err.msg);
    }
    *out = chr;
    return 0;
}

static int make_monitors(struct cli *o, struct chr_ctx *ctx, struct vm_mon *vm)
{
    struct err err = {0};
    struct chr *chr;

    if (o->default_monitor && !o->nographic) {
        /* QEMU's default monitor on a vc: output discarded. */
        if (chr_new_legacy(ctx, "vc", "compat_monitor0", NULL, NULL, NULL, &chr,
                           &err) < 0 ||
            vm_mon_attach(vm, chr, false, false, &err) < 0) {
            return fail("%s", err.msg);
        }
    } else if (o->default_monitor && o->serial) {
        /* -nographic with -serial given: the monitor alone on stdio. */
        if (chr_new_legacy(ctx, "stdio", "compat_monitor0", NULL, NULL, NULL,
                           &chr, &err) < 0 ||
            vm_mon_attach(vm, chr, false, false, &err) < 0) {
            return fail("-nographic: %s", err.msg);
        }
    }
    for (unsigned i = 0; i < o->nb_mons; i++) {
        struct mon_arg *m = &o->mons[i];

        fail_at(m->loc, m->opt, m->arg);
        chr = chr_find(ctx, m->chardev);
        if (!chr) {
            return fail("-%s %s: chardev \"%s\" not found", m->opt, m->arg,
                        m->chardev);
        }
        if (vm_mon_attach(vm, chr, m->qmp, m->pretty, &err) < 0) {
            return fail("-%s %s: %s", m->opt, m->arg, err.msg);
        }
    }
    fail_at(NULL, NULL, NULL);
    return 0;
}

/* -daemonize: the parent waits until the child is ready, then exits. */
static int daemonize_start(int *ready_fd)
{
    int p[2];
    pid_t pid;
    char c = 1;

    if (pipe(p) < 0) {
        return fail("-daemonize: %s", strerror(errno));
    }
    pid = fork();
    if (pid < 0) {
        return fail("-daemonize: %s", strerror(errno));
    }
    if (pid > 0) {
        close(p[1]);
        if (read(p[0], &c, 1) != 1) {
            _exit(1);
        }
        _exit(c ? 1 : 0);
    }
    close(p[0]);
    setsid();
    *ready_fd = p[1];
    return 0;
}

static void daemonize_done(int ready_fd, bool ok)
{
    char c = ok ? 0 : 1;
    int fd;

    if (ready_fd < 0) {
        return;
    }
    if (ok) {
        fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, STDIN_FILENO);
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            if (fd > STDERR_FILENO) {
                close(fd);
            }
        }
    }
    if (write(ready_fd, &c, 1) != 1) {
        ok = false;
    }
    close(ready_fd);
}

static void guest_log(void *opaque, const char *msg)
{
    FILE *f = log_file ? log_file : stderr;

    fputs(msg, f);
    fputc('\n', f);
}

static void usage(void)
{
    printf("usage: " PROG " [options]\n"
           "QEMU-compatible options for the RISC-V virt machine:\n"
           "-M virt[,dumpdtb=FILE]   machine (only virt)\n"
           "-cpu rv64[,prop=val...]  CPU (properties of our profile only)\n"
           "-m SIZE                  RAM size (default 128M)\n"
           "-smp 1                   one hart\n"
           "-bios FILE|none|default  firmware at 0x80000000\n"
           "-kernel FILE             kernel (ELF, or raw at 0x80200000)\n"
           "-initrd FILE             initial ramdisk\n"
           "-append CMDLINE          kernel command line (/chosen/bootargs)\n"
           "-dtb FILE                use this device tree\n"
           "-drive file=F[,format=qcow2|raw][,if=virtio|none][,id=ID]\n"
           "       [,snapshot=on][,readonly=on][,cache=MODE][,node-name=N]\n"
           "-hda FILE                -drive file=FILE,if=virtio\n"
           "-device virtio-blk-device,drive=ID | virtio-rng-device |\n"
           "        loader,file=F[,addr=A]\n"
           "-snapshot                write to temporary overlays only\n"
           "-nographic               serial on stdio, Ctrl-a h for help\n"
           "-serial stdio|null|file:F|pty|tcp:H:P[,server=on,wait=off]|"
           "unix:P[,server=on]\n"
           "-display none  -nic none  -net none  -nodefaults\n"
           "-no-reboot  -no-shutdown  -name N  -uuid U  -pidfile F\n"
           "-loadvm TAG              start from snapshot TAG of the disks\n"
           "-incoming URI            wait for a migration stream:\n"
           "                         exec:CMD, tcp:HOST:PORT, unix:PATH,\n"
           "                         file:PATH, or defer\n"
           "-icount shift=N|auto[,sleep=on|off]  2^N ns per instruction\n"
           "-rtc base=utc|DATE[,clock=vm]\n"
           "-d ITEM,...  -D LOGFILE  log in_asm,int,exec,cpu,fpu,unimp,\n"
           "                         guest_errors (-d help) to LOGFILE\n"
           "-global virtio-mmio.force-legacy=false\n"
           "-readconfig FILE         [chardev \"ID\"], [mon \"ID\"], [drive],\n"
           "                         [device], [machine], [object], [icount],\n"
           "                         [rtc] sections, as QEMU reads them\n"
           "rrvm-specific:\n"
           "-rng-seed N              seed of the virtio-rng generator\n"
           "-catalog FILE            snapshot catalog (default: $RRVM_CATALOG\n"
           "                         or $XDG_DATA_HOME/rrvm/catalog.sqlite)\n"
           "-statehash               print icount and state hash at exit\n"
           "-version  -h\n");
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The length of the "-opt ...: " or "-opt: " prefix of @msg, or 0. */
static size_t fail_prefix_len(const char *msg)
{
    size_t n = strlen(fail_opt);
    const char *colon;

    if (msg[0] != '-' || strncmp(msg + 1, fail_opt, n) ||
        (msg[n + 1] != ' ' && msg[n + 1] != ':')) {
        return 0;
    }
    colon = strstr(msg + n + 1, ": ");
    return colon ? (size_t)(colon + 2 - msg) : 0;
}

static int fail(const char *fmt, ...)
{
    char msg[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!fail_loc) {
        fprintf(stderr, PROG ": %s\n", msg);
    } else if (!fail_loc[0]) {
        fprintf(stderr, PROG ": %s\n", msg + fail_prefix_len(msg));
    } else {
        fprintf(stderr, PROG ":%s: %s\n", fail_loc, msg + fail_prefix_len(msg));
    }
    return -1;
}

/* An option's items, borrowed from a struct opts kept by the cli. */
struct props {
    const char *key[MAX_PROPS];
    const char *val[MAX_PROPS];
    unsigned n;
};

/*
 * Parse "-@opt @arg" by QemuOpts rules into @p, printing QEMU's
 * short-form boolean warnings (when @warn) and errors, "rrvm: -opt arg: ".
 */
static int props_parse(struct cli *o, const char *arg,
                       const struct opts_list *list, bool warn, const char *opt,
                       struct props *p)
{
    struct opts *op = NULL;
    struct err err = {0};
    const char *hint;

    if (opts_parse(list, arg, warn ? OPTS_WARN_FLAGS : 0, &op, &err) < 0) {
        return fail("-%s %s: %s", opt, arg, err.msg);
    }
    for (size_t i = 0; i < opts_nb_warnings(op); i++) {
        const char *w = opts_warning(op, i, &hint);

        fprintf(stderr, PROG ": -%s %s: warning: %s\n%s\n", opt, arg, w, hint);
    }
    if (opts_count(op) > MAX_PROPS) {
        opts_free(op);
        return fail("-%s %s: too many parameters", opt, arg);
    }
    p->n = 0;
    for (size_t i = 0; i < opts_count(op); i++) {
        p->key[p->n] = opts_key(op, i);
        p->val[p->n] = opts_value(op, i);
        p->n++;
    }
    return cli_keep(o, op) < 0 ? fail("-%s: too many options", opt) : 0;
}

static int parse_bool(const char *v, bool *out, const char *opt,
                      const char *key)
{
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
        *out = true;
    } else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no")) {
        *out = false;
    } else {
        return fail("%s: %s=%s: expected on or off", opt, key, v);
    }
    return 0;
}

/* QEMU size syntax: number with optional K/M/G/T suffix, default M. */
static int parse_size(const char *s, uint64_t dflt_unit, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t unit = dflt_unit;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s) {
        return -1;
    }
    switch (*end) {
    case '\0':
        break;
    case 'B':
    case 'b':
        unit = 1;
        end++;
        break;
    case 'K':
    case 'k':
        unit = 1ull << 10;
        end++;
        break;
    case 'M':
    case 'm':
        unit = 1ull << 20;
        end++;
        break;
    case 'G':
    case 'g':
        unit = 1ull << 30;
        end++;
        break;
    case 'T':
    case 't':
        unit = 1ull << 40;
        end++;
        break;
    default:
        return -1;
    }
    if (*end == 'i' || *end == 'B') {
        end++;
    }
    if (*end || v > UINT64_MAX / unit) {
        return -1;
    }
    *out = v * unit;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;

    errno = 0;
    *out = strtoull(s, &end, 0);
    return (errno || end == s || *end) ? -1 : 0;
}

static const struct opts_list machine_list = {"machine", "type", NULL};

static int opt_machine(struct cli *o, const char *arg)
{
    struct props p;

    if (props_parse(o, arg, &machine_list, true, "machine", &p) < 0) {
        return -1;
    }
    if (opts_help_wanted(o->owned[o->nb_owned - 1])) {
        if (p.n && !strcmp(p.key[0], "type") && strcmp(p.val[0], "help") &&
            strcmp(p.val[0], "?")) {
            printf("virt-machine options:\n"
                   "  dumpdtb=<string>       - Dump current dtb to a file "
                   "and quit\n");
        } else {
            printf("Supported machines are:\n%-20s %s\n", "virt",
                   "RISC-V VirtIO board");
        }
        exit(0);
    }
    for (unsigned i = 0; i < p.n; i++) {
        if (!strcmp(p.key[i], "type")) {
            if (strcmp(p.val[i], "virt")) {
                return fail("-machine %s: unsupported machine (only virt)",
                            p.val[i]);
            }
        } else if (!strcmp(p.key[i], "dumpdtb")) {
            o->mc.dumpdtb = p.val[i];
        } else {
            return fail("-machine: property '%s' is not supported", p.key[i]);
        }
    }
    return 0;
}

/* -cpu rv64 with the properties that describe our fixed profile. */
static const struct opts_list cpu_list = {"cpu", "model", NULL};

static int opt_cpu(struct cli *o, const char *arg)
{
    static const char *const off_ok[] = {
        "h",        "sstc",        "zba",    "zbb",    "zbc",
        "zbs",      "zihintpause", "v",      "zfh",    "zfhmin",
        "svinval",  "svnapot",     "svpbmt", "zicbom", "zicboz",
        "sscofpmf", "zkn",         "zks",    NULL};
    static const char *const on_ok[] = {
        "i", "m",   "a",    "f",     "d",       "c",        "s",
        "u", "mmu", "icsr", "zicsr", "ifencei", "zifencei", NULL};
    struct props p;
    bool b;

    if (props_parse(o, arg, &cpu_list, false, "cpu", &p) < 0) {
        return -1;
    }
    if (opts_help_wanted(o->owned[o->nb_owned - 1])) {
        printf("any\nmax\nrv64\n");
        exit(0);
    }
    for (unsigned i = 0; i < p.n; i++) {
        const char *k = p.key[i];
        bool known = false;

        if (!strcmp(k, "model")) {
            if (strcmp(p.val[i], "rv64") && strcmp(p.val[i], "any") &&
                strcmp(p.val[i], "max")) {
                return fail("-cpu %s: unsupported CPU model (only rv64)",
                            p.val[i]);
            }
            continue;
        }
        if (!strcmp(k, "priv_spec")) {
            if (strcmp(p.val[i], "v1.11.0")) {
                return fail("-cpu: priv_spec=%s is not supported (v1.11.0)",
                            p.val[i]);
            }
            continue;
        }
        if (!strcmp(k, "pmu-num")) {
            if (strcmp(p.val[i], "0")) {
                return fail("-cpu: pmu-num=%s is not supported (0)", p.val[i]);
            }
            continue;
        }
        if (parse_bool(p.val[i], &b, "-cpu", k) < 0) {
            return -1;
        }
        for (unsigned j = 0; off_ok[j]; j++) {
            if (!strcasecmp(k, off_ok[j])) {
                known = true;
                if (b) {
                    return fail("-cpu: %s=on is not supported by this CPU", k);
                }
            }
        }
        for (unsigned j = 0; on_ok[j]; j++) {
            if (!strcasecmp(k, on_ok[j])) {
                known = true;
                if (!b) {
                    return fail("-cpu: %s=off is not supported by this CPU", k);
                }
            }
        }
        if (!known) {
            return fail("-cpu: property '%s' is not supported", k);
        }
    }
    return 0;
}

static const struct opts_list drive_list = {"drive", "file", NULL};

static int opt_drive(struct cli *o, const char *arg)
{
    struct drive *d;
    struct props p;
    bool b;

    if (o->nb_drives == MAX_DRIVES) {
        return fail("-drive: at most %d drives", MAX_DRIVES);
    }
    d = &o->drives[o->nb_drives];
    memset(d, 0, sizeof(*d));
    if (props_parse(o, arg, &drive_list, true, "drive", &p) < 0) {
        return -1;
    }
    for (unsigned i = 0; i < p.n; i++) {
        const char *k = p.key[i], *v = p.val[i];

        if (!strcmp(k, "file")) {
            d->cfg.file = v;
        } else if (!strcmp(k, "format")) {
            if (strcmp(v, "qcow2") && strcmp(v, "raw")) {
                return fail("-drive: format=%s is not supported", v);
            }
            d->cfg.format = v;
        } else if (!strcmp(k, "if")) {
            if (!strcmp(v, "none")) {
                d->if_none = true;
            } else if (strcmp(v, "virtio")) {
                return fail("-drive: if=%s is not supported (virtio, none)", v);
            }
        } else if (!strcmp(k, "id")) {
            d->id = v;
        } else if (!strcmp(k, "node-name")) {
            if (!opts_id_wellformed(v)) {
                return fail("-drive %s: Invalid node-name: '%s'", arg, v);
            }
            d->node_name = v;
        } else if (!strcmp(k, "snapshot")) {
            if (parse_bool(v, &d->cfg.snapshot, "-drive", k) < 0) {
                return -1;
            }
        } else if (!strcmp(k, "readonly")) {
            if (parse_bool(v, &d->cfg.readonly, "-drive", k) < 0) {
                return -1;
            }
        } else if (!strcmp(k, "cache")) {
            if (!strcmp(v, "unsafe")) {
                d->cfg.cache_unsafe = true;
            } else if (!strcmp(v, "none") || !strcmp(v, "directsync")) {
                d->cfg.cache_direct = true;
            } else if (strcmp(v, "writeback") && strcmp(v, "writethrough")) {
                return fail("-drive: cache=%s is not supported", v);
            }
        } else if (!strcmp(k, "media")) {
            if (strcmp(v, "disk")) {
                return fail("-drive: media=%s is not supported", v);
            }
        } else if (!strcmp(k, "index")) {
            continue;
        } else if (!strcmp(k, "discard") || !strcmp(k, "detect-zeroes")) {
            continue;
        } else {
            (void)b;
            return fail("-drive: property '%s' is not supported", k);
        }
    }
    if (!d->cfg.file) {
        return fail("-drive: file= is required");
    }
    /* QEMU's checks of node names against the drives before this one. */
    for (unsigned i = 0; d->node_name && i < o->nb_drives; i++) {
        const struct drive *e = &o->drives[i];

        if (e->node_name && !strcmp(e->node_name, d->node_name)) {
            return fail("-drive %s: Duplicate nodes with node-name='%s'", arg,
                        d->node_name);
        }
        if (e->id && !strcmp(e->id, d->node_name)) {
            return fail("-drive %s: node-name=%s is conflicting with a device "
                        "id",
                        arg, d->node_name);
        }
    }
    for (unsigned i = 0; d->id && i <= o->nb_drives; i++) {
        const struct drive *e = &o->drives[i];

        if (e->node_name && !strcmp(e->node_name, d->id)) {
            return fail("-drive %s: Device name '%s' conflicts with an "
                        "existing node name",
                        arg, d->id);
        }
    }
    o->nb_drives++;
    return 0;
}

/* -hda FILE: the file name taken whole, commas included. */
static int opt_drive_hda(struct cli *o, const char *file)
{
    size_t n = strlen(file);
    char *buf = malloc(2 * n + 6);
    char *q;
    int ret;

    if (!buf) {
        return fail("-hda: out of memory");
    }
    q = buf + sprintf(buf, "file=");
    for (size_t i = 0; i < n; i++) {
        *q++ = file[i];
        if (file[i] == ',') {
            *q++ = ',';
        }
    }
    *q = '\0';
    ret = opt_drive(o, buf);
    free(buf);
    return ret;
}

static int add_virtio(struct cli *o, enum rv_virtio_kind kind,
                      const struct rv_drive_config *dc)
{
    struct rv_virtio_config *v;

    if (o->mc.nb_virtio == RV_VIRTIO_SLOTS) {
        return fail("-device: at most %d virtio devices", RV_VIRTIO_SLOTS);
    }
    v = &o->mc.virtio[o->mc.nb_virtio++];
    v->kind = kind;
    if (dc) {
        v->drive = *dc;
    }
    return 0;
}

static const struct opts_list device_list = {"device", "driver", NULL};

static int opt_device(struct cli *o, const char *arg)
{
    struct props p;
    const char *drive = NULL, *file = NULL, *addr = NULL, *rng = NULL;
    const char *driver, *id;
    unsigned anon;

    if (props_parse(o, arg, &device_list, true, "device", &p) < 0) {
        return -1;
    }
    /* The implied first key, or driver= anywhere (-readconfig's form). */
    driver = opts_get(o->owned[o->nb_owned - 1], "driver");
    if (!driver) {
        return fail("-device: missing device name");
    }
    id = opts_get(o->owned[o->nb_owned - 1], "id");
    anon = id ? 0 : o->nb_anon_devices++;
    for (unsigned i = 0; i < p.n; i++) {
        if (!strcmp(p.key[i], "driver")) {
            continue;
        } else if (!strcmp(p.key[i], "drive")) {
            drive = p.val[i];
        } else if (!strcmp(p.key[i], "file")) {
            file = p.val[i];
        } else if (!strcmp(p.key[i], "addr")) {
            addr = p.val[i];
        } else if (!strcmp(p.key[i], "rng")) {
            rng = p.val[i];
        } else if (strcmp(p.key[i], "id")) {
            return fail("-device %s: property '%s' is not supported", driver,
                        p.key[i]);
        }
    }
    if (!strcmp(driver, "virtio-blk-device")) {
        struct drive *d = NULL;

        if (!drive) {
            return fail("-device virtio-blk-device: drive= is required");
        }
        for (unsigned i = 0; i < o->nb_drives; i++) {
            if (o->drives[i].id && !strcmp(o->drives[i].id, drive)) {
                d = &o->drives[i];
            }
        }
        if (!d) {
            return fail("-device virtio-blk-device: drive '%s' not found",
                        drive);
        }
        if (!d->if_none || d->used) {
            return fail("-device virtio-blk-device: drive '%s' is already "
                        "in use",
                        drive);
        }
        d->used = true;
        if (id) {
            /* QEMU shows a named device's id, not its QOM path. */
            snprintf(d->qdev, sizeof(d->qdev), "%s", id);
        } else {
            snprintf(d->qdev, sizeof(d->qdev),
                     "/machine/peripheral-anon/device[%u]", anon);
        }
        return add_virtio(o, RV_VIRTIO_BLK, &d->cfg);
    }
    if (!strcmp(driver, "virtio-rng-device")) {
        if (drive || file || addr) {
            return fail("-device virtio-rng-device: unexpected property");
        }
        if (rng) {
            const char *f = NULL;

            for (unsigned i = 0; i < o->nb_rng_objs; i++) {
                if (!strcmp(o->rng_objs[i].id, rng)) {
                    f = o->rng_objs[i].file;
                }
            }
            if (!f) {
                return fail("-device virtio-rng-device: rng '%s' not found",
                            rng);
            }
            if (o->mc.rng_file && strcmp(o->mc.rng_file, f)) {
                return fail("-device virtio-rng-device: all rng devices "
                            "must share one source");
            }
            o->mc.rng_file = f;
        }
        return add_virtio(o, RV_VIRTIO_RNG, NULL);
    }
    if (rng) {
        return fail("-device %s: property 'rng' is not supported", driver);
    }
    if (!strcmp(driver, "loader")) {
        struct rv_loader_config *l;

        if (!file) {
            return fail("-device loader: file= is required (data= and cpu-num= "
                        "are not supported)");
        }
        if (o->mc.nb_loaders == RV_MAX_LOADERS) {
            return fail("-device loader: at most %d", RV_MAX_LOADERS);
        }
        l = &o->mc.loaders[o->mc.nb_loaders++];
        l->file = file;
        if (addr) {
            if (parse_u64(addr, &l->addr) < 0) {
                return fail("-device loader: bad addr=%s", addr);
            }
            l->has_addr = true;
        }
        return 0;
    }
    return fail("-device %s: unsupported device (virtio-blk-device, "
                "virtio-rng-device, loader)",
                driver);
}

static const struct opts_desc icount_desc[] = {
    {"shift", OPTS_STRING},
    {"align", OPTS_BOOL},
    {"sleep", OPTS_BOOL},
    {"rr", OPTS_STRING},
    {"rrfile", OPTS_STRING},
    {"rrsnapshot", OPTS_STRING},
    {NULL, 0},
};
static const struct opts_list icount_list = {"icount", "shift", icount_desc};

static int opt_icount(struct cli *o, const char *arg)
{
    struct props p;
    uint64_t v;

    if (props_parse(o, arg, &icount_list, true, "icount", &p) < 0) {
        return -1;
    }
    for (unsigned i = 0; i < p.n; i++) {
        if (!strcmp(p.key[i], "shift")) {
            if (!strcmp(p.val[i], "auto")) {
                o->mc.icount_shift = RV_ICOUNT_DEFAULT_SHIFT;
            } else if (parse_u64(p.val[i], &v) < 0 || v > RV_ICOUNT_MAX_SHIFT) {
                return fail("-icount: shift=%s: expected 0..%d or auto",
                            p.val[i], RV_ICOUNT_MAX_SHIFT);
            } else {
                o->mc.icount_shift = (unsigned)v;
            }
        } else if (!strcmp(p.key[i], "sleep")) {
            if (parse_bool(p.val[i], &o->mc.icount_sleep, "-icount", "sleep") <
                0) {
                return -1;
            }
        } else if (!strcmp(p.key[i], "align")) {
            bool b;

            if (parse_bool(p.val[i], &b, "-icount", "align") < 0) {
                return -1;
            }
            if (b) {
                return fail("-icount: align=on is not supported");
            }
        } else {
            return fail("-icount: property '%s' is not supported (rr= "
                        "comes with record/replay)",
                        p.key[i]);
        }
    }
    return 0;
}

/* -rtc base=utc|localtime|YYYY-MM-DD[THH:MM:SS],clock=vm */
static const struct opts_desc rtc_desc[] = {
    {"base", OPTS_STRING},
    {"clock", OPTS_STRING},
    {"driftfix", OPTS_STRING},
    {NULL, 0},
};
static const struct opts_list rtc_list = {"rtc", NULL, rtc_desc};

static int opt_rtc(struct cli *o, const char *arg)
{
    struct props p;

    if (props_parse(o, arg, &rtc_list, true, "rtc", &p) < 0) {
        return -1;
    }
    for (unsigned i = 0; i < p.n; i++) {
        const char *v = p.val[i];

        if (!strcmp(p.key[i], "base")) {
            struct tm tm;
            struct timespec ts;
            char *end;

            if (!strcmp(v, "utc") || !strcmp(v, "localtime")) {
                clock_gettime(CLOCK_REALTIME, &ts);
                o->mc.rtc_base_ns =
                    (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
                continue;
            }
            memset(&tm, 0, sizeof(tm));
            end = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
            if (!end || *end) {
                memset(&tm, 0, sizeof(tm));
                end = strptime(v, "%Y-%m-%d", &tm);
            }
            if (!end || *end) {
                return fail("-rtc: base=%s: expected utc, localtime or "
                            "YYYY-MM-DD[THH:MM:SS]",
                            v);
            }
            o->mc.rtc_base_ns = (uint64_t)timegm(&tm) * 1000000000ull;
        } else if (!strcmp(p.key[i], "clock")) {
            if (strcmp(v, "vm")) {
                return fail("-rtc: clock=%s is not supported (the RTC always "
                            "follows virtual time: clock=vm)",
                            v);
            }
        } else if (!strcmp(p.key[i], "driftfix")) {
            continue;
        } else {
            return fail("-rtc: property '%s' is not supported", p.key[i]);
        }
    }
    return 0;
}

/* -d help: the items (emulator/rv-trace.c), as QEMU's -d help. */
static void log_usage(void)
{
    size_t n;
    const struct rv_log_item *it = rv_log_items(&n);

    printf("Log items (comma separated):\n");
    for (size_t i = 0; i < n; i++) {
        printf("%-15s %s\n", it[i].name, it[i].help);
    }
}

static int opt_debug(struct cli *o, const char *arg)
{
    const char *bad = "";
    size_t bad_len = 0;
    unsigned mask;

    if (!strcmp(arg, "help")) {
        log_usage();
        exit(0);
    }
    if (rv_log_parse(arg, &mask, &bad, &bad_len) < 0) {
        log_usage();
        return fail("-d %.*s: unknown log item (-d help lists them)",
                    (int)bad_len, bad);
    }
    o->mc.log_mask |= mask;
    return 0;
}

/* -object rng-random,id=ID,filename=F | rng-builtin,id=ID */
static const struct opts_list object_list = {"object", "qom-type", NULL};

static int opt_object(struct cli *o, const char *arg)
{
    const char *id = NULL, *file = NULL;
    struct props p;

    if (props_parse(o, arg, &object_list, false, "object", &p) < 0) {
        return -1;
    }
    if (strcmp(p.val[0], "rng-random") && strcmp(p.val[0], "rng-builtin")) {
        return fail("-object %s: not supported (rng-random, rng-builtin)",
                    p.val[0]);
    }
    if (!strcmp(p.val[0], "rng-builtin")) {
        file = "/dev/urandom";
    }
    for (unsigned i = 1; i < p.n; i++) {
        if (!strcmp(p.key[i], "id")) {
            id = p.val[i];
        } else if (!strcmp(p.key[i], "filename") &&
                   !strcmp(p.val[0], "rng-random")) {
            file = p.val[i];
        } else {
            return fail("-object %s: property '%s' is not supported", p.val[0],
                        p.key[i]);
        }
    }
    if (!id) {
        return fail("-object %s: id= is required", p.val[0]);
    }
    if (!file) {
        file = "/dev/urandom";
    }
    if (o->nb_rng_objs == MAX_OBJECTS) {
        return fail("-object: at most %d objects", MAX_OBJECTS);
    }
    o->rng_objs[o->nb_rng_objs].id = id;
    o->rng_objs[o->nb_rng_objs].file = file;
    o->nb_rng_objs++;
    return 0;
}

static int opt_global(const char *arg)
{
    if (!strcmp(arg, "virtio-mmio.force-legacy=false") ||
        !strcmp(arg, "virtio-mmio.force-legacy=off")) {
        return 0;
    }
    if (!strncmp(arg, "virtio-mmio.force-legacy=", 25)) {
        return fail("-global %s: only virtio-mmio version 2 is implemented",
                    arg);
    }
    return fail("-global %s: not supported", arg);
}

/* -chardev BACKEND,id=ID,...: parsed now, created after all options. */
static int opt_chardev(struct cli *o, const char *arg)
{
    struct chardev_arg *c;
    struct opts *op = NULL;
    struct err err = {0};
    const char *hint;

    if (opts_parse(chr_opts_list(), arg, OPTS_WARN_FLAGS, &op, &err) < 0) {
        return fail("-chardev %s: %s", arg, err.msg);
    }
    for (size_t i = 0; i < opts_nb_warnings(op); i++) {
        const char *w = opts_warning(op, i, &hint);

        fprintf(stderr, PROG ": -chardev %s: warning: %s\n%s\n", arg, w, hint);
    }
    if (opts_help_wanted(op)) {
        opts_free(op);
        printf("Available chardev backend types: \n"
               "  file\n  null\n  pipe\n  pty\n  serial\n  socket\n"
               "  stdio\n  tty\n  vc\n");
        exit(0);
    }
    if (o->nb_chardevs == MAX_CHARDEVS) {
        opts_free(op);
        return fail("-chardev %s: at most %d chardevs", arg, MAX_CHARDEVS);
    }
    c = &o->chardevs[o->nb_chardevs++];
    c->opt = "chardev";
    c->arg = arg;
    c->o = op;
    c->loc = fail_loc;
    return cli_keep(o, op) < 0 ? fail("-chardev: too many options") : 0;
}

/* -monitor DEV, -qmp DEV, -qmp-pretty DEV (QEMU's monitor_parse). */
static int opt_monitor(struct cli *o, const char *opt, const char *arg,
                       bool qmp, bool pretty)
{
    struct mon_arg *m;

    o->default_monitor = false;
    if (!strncmp(arg, "none", 4)) {
        return 0;
    }
    if (o->nb_mons == MAX_MONS || o->nb_chardevs == MAX_CHARDEVS) {
        return fail("-%s %s: too many monitors", opt, arg);
    }
    m = &o->mons[o->nb_mons++];
    m->opt = opt;
    m->arg = arg;
    m->qmp = qmp;
    m->pretty = pretty;
    if (!strncmp(arg, "chardev:", 8)) {
        m->chardev = arg + 8;
        return 0;
    }
    {
        struct chardev_arg *c = &o->chardevs[o->nb_chardevs++];

        c->opt = opt;
        c->arg = arg;
        snprintf(c->label, sizeof(c->label), "compat_monitor%u",
                 o->nb_compat_mons++);
        m->chardev = c->label;
    }
    return 0;
}

static const struct opts_desc mon_desc[] = {
    {"mode", OPTS_STRING},
    {"chardev", OPTS_STRING},
    {"pretty", OPTS_BOOL},
    {NULL, 0},
};
static const struct opts_list mon_list = {"mon", "chardev", mon_desc};

/* -mon [chardev=]ID[,mode=readline|control][,pretty=on|off] */
static int opt_mon(struct cli *o, const char *arg)
{
    const char *mode, *chardev;
    struct mon_arg *m;
    struct props p;
    struct opts *op;
    struct err err = {0};
    bool pretty = false;

    if (props_parse(o, arg, &mon_list, true, "mon", &p) < 0) {
        return -1;
    }
    op = o->owned[o->nb_owned - 1];
    o->default_monitor = false;
    mode = opts_get(op, "mode");
    chardev = opts_get(op, "chardev");
    if (opts_get_bool(op, "pretty", false, &pretty, &err) < 0) {
        return fail("-mon %s: %s", arg, err.msg);
    }
    if (mode && strcmp(mode, "readline") && strcmp(mode, "control")) {
        return fail("-mon %s: Parameter 'mode' does not accept value '%s'", arg,
                    mode);
    }
    if (!chardev) {
        return fail("-mon %s: Parameter 'chardev' is missing", arg);
    }
    if (opts_get(op, "pretty") && (!mode || !strcmp(mode, "readline"))) {
        return fail("-mon %s: 'pretty' is not compatible with HMP monitors",
                    arg);
    }
    if (o->nb_mons == MAX_MONS) {
        return fail("-mon %s: too many monitors", arg);
    }
    m = &o->mons[o->nb_mons++];
    m->opt = "mon";
    m->arg = arg;
    m->chardev = chardev;
    m->loc = fail_loc;
    m->qmp = mode && !strcmp(mode, "control");
    m->pretty = pretty;
    return 0;
}

static const struct opts_desc name_desc[] = {
    {"guest", OPTS_STRING},
    {"process", OPTS_STRING},
    {"debug-threads", OPTS_BOOL},
    {NULL, 0},
};
static const struct opts_list name_list = {"name", "guest", name_desc};

/*
 * -readconfig FILE, read as QEMU 7.2's qemu_config_foreach(): lines of at
 * most 1023 bytes; "\n" and lines starting with '#' are skipped; a line
 * starting with '[' opens a group, "[name \"id\"]" or "[name]"; any other
 * line is " key = \"value\"" (sscanf rules: a line "key" alone or
 * "key=\"v\"" is the key with an empty value) or a "parse error". A
 * group is applied when the next one opens or at the end, through the
 * command-line option of its name, at the location of the last key line
 * read so far (QEMU's Location: header lines do not move it).
 */
#define RC_LINE  1024
#define RC_ITEMS 64

struct rc_group {
    char name[64];
    char id[64];
    bool has_id;
    unsigned n;
    char *key[RC_ITEMS], *val[RC_ITEMS];
};

static void rc_group_fini(struct rc_group *g)
{
    for (unsigned i = 0; i < g->n; i++) {
        free(g->key[i]);
        free(g->val[i]);
    }
    g->n = 0;
}

/* Append @src to the option string @dst, doubling commas when @escape
 * (QemuOpts' ",,"). */
static void rc_append(char *dst, size_t dst_cap, const char *src, bool escape)
{
    size_t n = strlen(dst);

    for (; *src && n + 2 < dst_cap; src++) {
        dst[n++] = *src;
        if (escape && *src == ',') {
            dst[n++] = ',';
        }
    }
    dst[n] = '\0';
}

/* Apply group @g through its option, with messages at @loc. */
static int rc_group_apply(struct cli *o, struct rc_group *g, const char *loc)
{
    static const char *const groups[] = {
        "chardev", "mon",    "drive", "machine", "device",
        "object",  "icount", "rtc",   NULL,
    };
    static char buf[OPTS_MAX_LEN];
    const char *arg;
    unsigned i;
    int ret;

    for (i = 0; groups[i] && strcmp(groups[i], g->name); i++) {
    }
    fail_at(loc, g->name, "");
    if (!groups[i]) {
        return fail("There is no option group '%s'", g->name);
    }
    buf[0] = '\0';
    if (g->has_id) {
        rc_append(buf, sizeof(buf), "id=", false);
        rc_append(buf, sizeof(buf), g->id, true);
    }
    for (i = 0; i < g->n; i++) {
        if (strpbrk(g->key[i], ",=")) {
            return fail("Invalid parameter '%s'", g->key[i]);
        }
        if (buf[0]) {
            rc_append(buf, sizeof(buf), ",", false);
        }
        rc_append(buf, sizeof(buf), g->key[i], false);
        rc_append(buf, sizeof(buf), "=", false);
        rc_append(buf, sizeof(buf), g->val[i], true);
    }
    arg = cli_strdup(o, buf);
    if (!arg) {
        return fail("too many -readconfig groups");
    }
    /* QEMU applies these later, with no location. */
    if (!strcmp(g->name, "machine") || !strcmp(g->name, "rtc")) {
        loc = "";
    }
    fail_at(loc, g->name, arg);
    if (!strcmp(g->name, "chardev")) {
        ret = opt_chardev(o, arg);
    } else if (!strcmp(g->name, "mon")) {
        ret = opt_mon(o, arg);
    } else if (!strcmp(g->name, "drive")) {
        ret = opt_drive(o, arg);
    } else if (!strcmp(g->name, "machine")) {
        ret = opt_machine(o, arg);
    } else if (!strcmp(g->name, "device")) {
        if (o->nb_devices == MAX_DEVICES) {
            return fail("-device: too many devices");
        }
        o->device_locs[o->nb_devices] = loc;
        o->devices[o->nb_devices++] = arg;
        ret = 0;
    } else if (!strcmp(g->name, "object")) {
        ret = opt_object(o, arg);
    } else if (!strcmp(g->name, "icount")) {
        ret = opt_icount(o, arg);
    } else {
        ret = opt_rtc(o, arg);
    }
    fail_at(NULL, NULL, NULL);
    return ret;
}

static int opt_readconfig(struct cli *o, const char *path)
{
    char line[RC_LINE], group[64], id[64], key[64], value[1024];
    char where[PATH_MAX + 16];
    const char *loc = ""; /* none until a key line */
    struct rc_group g = {0};
    bool have = false;
    unsigned lno = 0;
    int ret = -1;
    FILE *f;

    f = fopen(path, "r");
    if (!f) {
        return fail("-readconfig %s: Could not open '%s': %s", path, path,
                    strerror(errno));
    }
    while (fgets(line, sizeof(line), f)) {
        int k;

        ++lno;
        if (line[0] == '\n' || line[0] == '#') {
            continue;
        }
        if (line[0] == '[') {
            bool with_id = sscanf(line, "[%63s \"%63[^\"]\"]", group, id) == 2;

            if (with_id || sscanf(line, "[%63[^]]]", group) == 1) {
                if (have && rc_group_apply(o, &g, loc) < 0) {
                    goto out;
                }
                rc_group_fini(&g);
                have = true;
                snprintf(g.name, sizeof(g.name), "%s", group);
                snprintf(g.id, sizeof(g.id), "%s", with_id ? id : "");
                g.has_id = with_id;
                continue;
            }
        }
        snprintf(where, sizeof(where), "%s:%u", path, lno);
        loc = cli_strdup(o, where);
        if (!loc) {
            fail("-readconfig %s: too many lines", path);
            goto out;
        }
        value[0] = '\0';
        k = sscanf(line, " %63s = \"%1023[^\"]\"", key, value);
        if (k != 2) {
            k = sscanf(line, " %63s = \"\"", key);
        }
        fail_at(loc, "readconfig", "");
        if (k < 1) {
            fail("parse error");
            goto out;
        }
        if (!have) {
            fail("no group defined");
            goto out;
        }
        if (g.n == RC_ITEMS) {
            fail("too many keys in [%s]", g.name);
            goto out;
        }
        g.key[g.n] = strdup(key);
        g.val[g.n] = strdup(value);
        if (!g.key[g.n] || !g.val[g.n]) {
            free(g.key[g.n]);
            free(g.val[g.n]);
            fail("out of memory");
            goto out;
        }
        g.n++;
        fail_at(NULL, NULL, NULL);
    }
    if (ferror(f)) {
        fail_at(NULL, NULL, NULL);
        fail("-readconfig %s: Cannot read config file: %s", path,
             strerror(errno));
        goto out;
    }
    if (have && rc_group_apply(o, &g, loc) < 0) {
        goto out;
    }
    ret = 0;
out:
    fail_at(NULL, NULL, NULL);
    rc_group_fini(&g);
    fclose(f);
    return ret;
}

/* Options that take an argument. */
static const char *const with_arg[] = {
    "M",        "machine",  "cpu",        "m",          "smp",
    "bios",     "kernel",   "initrd",     "append",     "dtb",
    "drive",    "hda",      "device",     "serial",     "display",
    "nic",      "net",      "name",       "uuid",       "pidfile",
    "icount",   "rtc",      "d",          "D",          "global",
    "rng-seed", "monitor",  "qmp",        "chardev",    "mon",
    "accel",    "boot",     "vga",        "k",          "L",
    "object",   "netdev",   "fsdev",      "virtfs",     "incremental",
    "loadvm",   "gdb",      "trace",      "plugin",     "overcommit",
    "numa",     "parallel", "qmp-pretty", "readconfig", "catalog",
    "incoming", NULL};

static bool takes_arg(const char *name)
{
    for (unsigned i = 0; with_arg[i]; i++) {
        if (!strcmp(name, with_arg[i])) {
            return true;
        }
    }
    return false;
}

static int parse_args(struct cli *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        const char *arg = NULL;
        uint64_t v;

        if (name[0] != '-') {
            return fail("%s: unexpected argument (disk images need -drive "
                        "or -hda)",
                        name);
        }
        name += name[1] == '-' ? 2 : 1;
        if (takes_arg(name)) {
            if (i + 1 >= argc) {
                return fail("-%s: requires an argument", name);
            }
            arg = argv[++i];
        }
        if (!strcmp(name, "M") || !strcmp(name, "machine")) {
            if (opt_machine(o, arg) < 0) {
                return -1;
            }
        } else if (!strcmp(name, "cpu")) {
            if (opt_cpu(o, arg) < 0) {
                return -1;
            }
        } else if (!strcmp(name, "m")) {
            const char *s = arg;

            if (!strncmp(s, "size=", 5)) {
                s += 5;
            }
            if (parse_size(s, 1ull << 20, &o->mc.ram_size) < 0) {
                return fail("-m %s: bad size", arg);
            }
        } else if (!strcmp(name, "smp")) {
            const char *s = arg;

            if (!strncmp(s, "cpus=", 5)) {
                s += 5;
            }
            if (parse_u64(s, &v) < 0 || v != 1) {
                return fail("-smp %s: only one hart is supported", arg);
            }
        } else if (!strcmp(name, "bios")) {
            o->mc.bios = arg;
            o->bios_set = true;
        } else if (!strcmp(name, "kernel")) {
            o->mc.kernel = arg;
        } else if (!strcmp(name, "initrd")) {
            o->mc.initrd = arg;
        } else if (!strcmp(name, "append")) {
            o->mc.append = arg;
        } else if (!strcmp(name, "dtb")) {
            o->mc.dtb = arg;
        } else if (!strcmp(name, "drive")) {
            if (opt_drive(o, arg) < 0) {
                return -1;
            }
        } else if (!strcmp(name, "hda")) {
            if (opt_drive_hda(o, arg) < 0) {
                return -1;
            }
        } else if (!strcmp(name, "device")) {
            if (o->nb_devices == MAX_DEVICES) {
                return fail("-device: too many devices");
            }
            o->device_locs[o->nb_devices] = fail_loc;
            o->devices[o->nb_devices++] = arg;
        } else if (!strcmp(name, "serial")) {
            if (o->serial) {
                return fail("-serial: only one serial port is supported");
            }
            o->default_serial = false;
            o->serial = arg;
        } else if (!strcmp(name, "display")) {
            if (strcmp(arg, "none")) {
                return fail("-display %s: only -display none is supported",
                            arg);
            }
        } else if (!strcmp(name, "nic") || !strcmp(name, "net")) {
            if (strcmp(arg, "none")) {
                return fail("-%s %s: networking is not supported (none)", name,
                            arg);
            }
        } else if (!strcmp(name, "name")) {
            struct props p;

            if (props_parse(o, arg, &name_list, true, "name", &p) < 0) {
                return -1;
            }
            o->name = opts_get(o->owned[o->nb_owned - 1], "guest");
        } else if (!strcmp(name, "uuid")) {
            unsigned u[16];

            if (strlen(arg) != 36 ||
                sscanf(arg,
                       "%2x%2x%2x%2x-%2x%2x-%2x%2x-%2x%2x-%2x%2x%2x%2x%2x%2x",
                       &u[0], &u[1], &u[2], &u[3], &u[4], &u[5], &u[6], &u[7],
                       &u[8], &u[9], &u[10], &u[11], &u[12], &u[13], &u[14],
                       &u[15]) != 16) {
                return fail("-uuid %s: Fail to parse UUID string. Wrong "
                            "format.",
                            arg);
            }
            o->uuid = arg;
        } else if (!strcmp(name, "pidfile")) {
            o->pidfile = arg;
        } else if (!strcmp(name, "icount")) {
            if (opt_icount(o, arg) < 0) {
                return -1;
            }
        } else if (!strcmp(name, "rtc")) {
            if (opt_rtc(o, arg) < 0) {
                return -1;
            }
        } else if (!strcmp(name, "d")) {
            if (opt_debug(o, arg) < 0) {
                return -1;
            }
        } else if (!strcmp(name, "D")) {
            o->logfile = arg;
        } else if (!strcmp(name, "object")) {
            if (opt_object(o, arg) < 0) {
                return -1;
            }
        } else if (!strcmp(name, "global")) {
            if (opt_global(arg) < 0) {
                return -1;
            }
        } else if (!strcmp(name, "rng-seed")) {
            if (parse_u64(arg, &o->mc.rng_seed) < 0) {
                return fail("-rng-seed %s: expected a number", arg);
            }
        } else if (!strcmp(name, "nographic")) {
            o->nographic = true;
        } else if (!strcmp(name, "snapshot")) {
            o->snapshot = true;
        } else if (!strcmp(name, "nodefaults")) {
            o->default_serial = false;
            o->default_monitor = false;
            o->default_parallel = false;
        } else if (!strcmp(name, "S")) {
            o->mc.start_paused = true;
        } else if (!strcmp(name, "daemonize")) {
            o->daemonize = true;
        } else if (!strcmp(name, "no-reboot")) {
            o->mc.no_reboot = true;
        } else if (!strcmp(name, "no-shutdown")) {
            o->mc.no_shutdown = true;
        } else if (!strcmp(name, "statehash")) {
            o->statehash = true;
        } else if (!strcmp(name, "version")) {
            printf(PROG " version " RRVM_VERSION
                        " (QEMU 7.2 compatible command line)\n");
            exit(0);
        } else if (!strcmp(name, "h") || !strcmp(name, "help")) {
            usage();
            exit(0);
        } else if ((!strcmp(name, "parallel") || !strcmp(name, "vga")) &&
                   !strcmp(arg, "none")) {
            if (name[0] == 'p') {
                o->default_parallel = false;
            }
        } else if (!strcmp(name, "accel")) {
            if (strcmp(arg, "tcg") && strncmp(arg, "tcg,", 4)) {
                return fail("-accel %s: only tcg (the interpreter)", arg);
            }
        } else if (!strcmp(name, "monitor")) {
            if (opt_monitor(o, name, arg, false, false) < 0) {
                return -1;
            }
        } else if (!strcmp(name, "qmp") || !strcmp(name, "qmp-pretty")) {
            if (opt_monitor(o, name, arg, true, name[3] == '-') < 0) {
                return -1;
            }
        } else if (!strcmp(name, "mon")) {
            if (opt_mon(o, arg) < 0) {
                return -1;
            }
        } else if (!strcmp(name, "chardev")) {
            if (opt_chardev(o, arg) < 0) {
                return -1;
            }
        } else if (!strcmp(name, "readconfig")) {
            if (opt_readconfig(o, arg) < 0) {
                return -1;
            }
        } else if (!strcmp(name, "loadvm")) {
            o->loadvm = arg;
        } else if (!strcmp(name, "catalog")) {
            o->catalog = arg;
        } else if (!strcmp(name, "incoming")) {
            o->incoming = arg;
        } else if (arg) {
            return fail("-%s: option not supported", name);
        } else {
            return fail("-%s: unknown option (see -h)", name);
        }
    }
    return 0;
}

/* Resolve drives and devices into the machine's virtio list. */
static int wire_devices(struct cli *o)
{
    /* -drive if=virtio come first, in order, as QEMU creates them before
     * -device. */
    for (unsigned i = 0; i < o->nb_drives; i++) {
        struct drive *d = &o->drives[i];

        if (o->snapshot) {
            d->cfg.snapshot = true;
        }
        if (!d->if_none) {
            if (add_virtio(o, RV_VIRTIO_BLK, &d->cfg) < 0) {
                return -1;
            }
        }
    }
    for (unsigned i = 0; i < o->nb_devices; i++) {
        fail_at(o->device_locs[i], "device", o->devices[i]);
        if (opt_device(o, o->devices[i]) < 0) {
            return -1;
        }
    }
    fail_at(NULL, NULL, NULL);
    /* The block commands' view: QEMU names if=virtio drives virtio<N> and
     * creates their devices after the -device ones. */
    for (unsigned i = 0, nv = 0, nn = 0; i < o->nb_drives; i++) {
        struct drive *d = &o->drives[i];
        struct vm_mon_drive *md = &o->mon_drives[i];

        snprintf(d->device, sizeof(d->device), "%s%u",
                 d->if_none ? "none" : "virtio", d->if_none ? nn++ : nv++);
        if (!d->if_none) {
            snprintf(d->qdev, sizeof(d->qdev),
                     "/machine/peripheral-anon/device[%u]/virtio-backend",
                     o->nb_anon_devices++);
        }
        md->device = d->id ? d->id : d->device;
        md->node_name = d->node_name;
        md->qdev = d->qdev[0] ? d->qdev : NULL;
        md->cfg = d->cfg;
    }
    for (unsigned i = 0; i < o->nb_drives; i++) {
        if (o->drives[i].if_none && !o->drives[i].used) {
            fprintf(stderr,
                    PROG ": warning: drive %s is not used by any "
                         "device\n",
                    o->drives[i].id ? o->drives[i].id : o->drives[i].cfg.file);
        }
    }
    return 0;
}

/* The catalog follows the disks' snapshots (machine-catalog.c). */
static int start_catalog(struct cli *o, struct rv_machine *m,
                         struct vm_catalog *cat)
{
    struct rv_snap_drive drives[MAX_DRIVES];
    struct err err = {0, ""};

    for (unsigned i = 0; i < o->nb_drives; i++) {
        drives[i].device = o->mon_drives[i].device;
        drives[i].node_name = o->mon_drives[i].node_name;
        drives[i].file = o->mon_drives[i].cfg.file;
    }
    if (vm_catalog_attach(cat, m, drives, o->nb_drives, &err) < 0) {
        return fail("%s", err.msg);
    }
    return 0;
}

/* -loadvm: before the machine starts, so without STOP/RESUME events. */
static int start_loadvm(struct cli *o, struct rv_machine *m)
{
    struct rv_snap_drive drives[MAX_DRIVES];
    enum rv_runstate state = rv_machine_runstate(m);
    struct rv_snap *s;
    struct err err = {0, ""};

    for (unsigned i = 0; i < o->nb_drives; i++) {
        drives[i].device = o->mon_drives[i].device;
        drives[i].node_name = o->mon_drives[i].node_name;
        drives[i].file = o->mon_drives[i].cfg.file;
    }
    rv_machine_set_runstate(m, RV_RUN_PRELAUNCH);
    if (rv_snap_get(m, drives, o->nb_drives, &s, &err) < 0 ||
        rv_snap_load(s, o->loadvm, NULL, NULL, &err) < 0) {
        return fail("%s", err.msg);
    }
    rv_machine_set_runstate(m, state);
    return 0;
}

static int check_file(const char *opt, const char *path)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        return fail("%s %s: %s", opt, path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return fail("%s %s: not a regular file", opt, path);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct cli o;
    struct host h = {0};
    struct rv_machine *m = NULL;
    struct rv_exit_info ex;
    struct err err = {0};
    struct loop *loop = NULL;
    struct chr_ctx *chrs = NULL;
    struct chr *serial = NULL;
    struct vm_mon *vm = NULL;
    struct vm_catalog *catalog = NULL;
    struct sigaction sa;
    uint8_t hash[RV_STATE_HASH_LEN];
    char hex[2 * RV_STATE_HASH_LEN + 1];
    bool pid_written = false;
    bool trace;
    int ready_fd = -1;
    int rc = 1, ret;

    log_set_prog(PROG);
    rv_machine_config_init(&o.mc);
    o.default_serial = true;
    o.default_monitor = true;
    o.default_parallel = true;
    if (parse_args(&o, argc, argv) < 0 || wire_devices(&o) < 0) {
        goto out;
    }
    if (!o.bios_set || (o.mc.bios && !strcmp(o.mc.bios, "default"))) {
        o.mc.bios = DEFAULT_BIOS;
    } else if (o.mc.bios && !strcmp(o.mc.bios, "none")) {
        o.mc.bios = NULL;
    }
    if ((o.mc.bios && check_file("-bios", o.mc.bios) < 0) ||
        (o.mc.kernel && check_file("-kernel", o.mc.kernel) < 0) ||
        (o.mc.initrd && check_file("-initrd", o.mc.initrd) < 0) ||
        (o.mc.dtb && check_file("-dtb", o.mc.dtb) < 0)) {
        goto out;
    }
    if (!o.mc.bios && !o.mc.kernel && o.mc.nb_loaders == 0 && !o.mc.dumpdtb) {
        fail("nothing to run: give -bios, -kernel or -device loader");
        goto out;
    }
    if (o.daemonize && o.nographic) {
        fail("-nographic cannot be used with -daemonize");
        goto out;
    }
    trace = (o.mc.log_mask &
             (RV_LOG_IN_ASM | RV_LOG_INT | RV_LOG_EXEC | RV_LOG_CPU)) != 0;
    if (o.logfile) {
        log_file = fopen(o.logfile, "w");
        if (!log_file) {
            fail("-D %s: %s", o.logfile, strerror(errno));
            goto out;
        }
        setvbuf(log_file, NULL, trace ? _IOFBF : _IOLBF, trace ? 1 << 16 : 0);
    } else if (trace) {
        /* Traces are large: buffer stderr (flushed at exit). */
        setvbuf(stderr, NULL, _IOFBF, 1 << 16);
    }
    o.mc.log_fn = guest_log;
    o.mc.quit_flag = &quit_flag;
    signal(SIGPIPE, SIG_IGN);
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    if (o.mc.dumpdtb) {
        if (rv_machine_new(&o.mc, &m, &err) < 0) {
            fail("%s", err.msg);
            goto out;
        }
        fprintf(stderr, PROG ": info: dtb dumped to %s. Exiting.\n",
                o.mc.dumpdtb);
        rc = 0;
        goto out;
    }
    if (o.daemonize && daemonize_start(&ready_fd) < 0) {
        goto out;
    }
    if (loop_new(&loop, &err) < 0) {
        fail("%s", err.msg);
        goto out;
    }
    main_loop = loop;
    {
        struct chr_host_ops host_ops = {&h, host_quit, host_commit,
                                        host_interrupted};
        struct vm_mon_config vc = {o.name, o.uuid, NULL, NULL};

        if (chr_ctx_new(loop, &host_ops, &chrs, &err) < 0) {
            fail("%s", err.msg);
            goto out;
        }
        vc.chrs = chrs;
        vc.drives = o.mon_drives;
        vc.nb_drives = o.nb_drives;
        if (vm_mon_new(&vc, &vm, &err) < 0 ||
            vm_catalog_new(o.catalog, &catalog, &err) < 0 ||
            vm_catalog_register(catalog, vm_mon_monitor(vm), &err) < 0) {
            fail("monitor: %s", err.msg);
            goto out;
        }
        h.vm = vm;
    }
    if (make_chardevs(&o, chrs, &h) < 0 ||
        make_serial(&o, chrs, &h, vm, &serial) < 0 ||
        make_monitors(&o, chrs, vm) < 0) {
        goto out;
    }
    o.mc.loop = loop;
    o.mc.serial_out = serial_out;
    o.mc.serial_opaque = &h;
    o.mc.event_fn = vm_mon_event;
    o.mc.event_opaque = vm;
    o.mc.incoming = o.incoming != NULL;
    if (rv_machine_new(&o.mc, &m, &err) < 0) {
        fail("%s", err.msg);
        goto out;
    }
    h.m = m;
    vm_mon_set_machine(vm, m);
    if (start_catalog(&o, m, catalog) < 0) {
        goto out;
    }
    if (o.loadvm && start_loadvm(&o, m) < 0) {
        goto out;
    }
    if (o.incoming && vm_mon_migrate_incoming(vm_mon_migration(vm), o.incoming,
                                              !o.mc.start_paused, &err) < 0) {
        fail("-incoming %s: %s", o.incoming, err.msg);
        goto out;
    }
    if (serial &&
        chr_fe_attach(serial, &serial_ops, &h, &h.serial_fe, &err) < 0) {
        fail("-serial %s: %s", chr_label(serial), err.msg);
        goto out;
    }
    chr_ctx_open_muxes(chrs);
    if (h.quit_early) {
        rv_machine_quit(m, RV_CAUSE_NONE);
    }
    if (o.pidfile) {
        FILE *f = fopen(o.pidfile, "w");

        if (!f) {
            fail("-pidfile %s: %s", o.pidfile, strerror(errno));
            goto out;
        }
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
        pid_written = true;
    }
    daemonize_done(ready_fd, true);
    ready_fd = -1;
    ret = rv_machine_run(m, &ex, &err);
    if (ret < 0) {
        fail("%s", err.msg);
        goto out;
    }
    chr_ctx_flush(chrs, 1000);
    switch (ex.kind) {
    case RV_EXIT_POWEROFF:
        rc = ex.exit_code;
        break;
    case RV_EXIT_QUIT:
        if (quit_flag) {
            report_signal();
        }
        rc = vm_mon_migrate_failed(vm_mon_migration(vm)) ? 1 : 0;
        break;
    case RV_EXIT_RESET:
        rc = 0;
        break;
    case RV_EXIT_TRAP_LOOP:
        chr_fe_detach(h.serial_fe);
        h.serial_fe = NULL;
        vm_mon_free(vm);
        vm = NULL;
        chr_ctx_free(chrs);
        chrs = NULL;
        fprintf(stderr,
                PROG ": guest stuck in a trap loop at pc 0x%" PRIx64
                     " (icount %" PRIu64 ")\n",
                ex.pc, rv_machine_icount(m));
        rc = 1;
        break;
    }
    if (o.statehash) {
        if (rv_machine_state_hash(m, hash) == 0) {
            hash_hex(hash, sizeof(hash), hex);
            fprintf(stderr, PROG ": icount %" PRIu64 " statehash %s\n",
                    rv_machine_icount(m), hex);
        }
    }
out:
    daemonize_done(ready_fd, false);
    chr_fe_detach(h.serial_fe);
    vm_mon_free(vm);
    chr_ctx_free(chrs);
    rv_machine_free(m);
    vm_catalog_free(catalog);
    main_loop = NULL;
    loop_free(loop);
    if (pid_written) {
        unlink(o.pidfile);
    }
    if (log_file) {
        fclose(log_file);
    }
    cli_free(&o);
    return rc;
}
