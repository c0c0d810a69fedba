/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-mon-int.h - internals shared by the rrvm binary's monitor
 * files (machine-mon.c and machine-mon-*.c), grouped by defining file.
 */
#ifndef EMULATOR_MACHINE_MON_INT_H
#define EMULATOR_MACHINE_MON_INT_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "chardev/chardev.h"
#include "common/err.h"
#include "emulator/rv.h"
#include "monitor/mon.h"

/* ---- machine-mon.c ---- */

/*
 * Register with @mon a heap copy of the @n entries of @table, each with
 * opaque @opaque. *@copy receives the copy once it is made, also when
 * registering fails; mem_free() it after mon_free(). Returns 0, -ENOMEM, or
 * mon_cmd_register()'s error.
 */
int vm_mon_cmds_register(struct mon *mon, const struct mon_cmd *table, size_t n,
                         void *opaque, struct mon_cmd **copy, struct err *err);

/* ---- machine-mon-info.c: inspection and the remaining issue-10 commands */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The context of the commands in machine-mon-info.c and machine-mon-chr.c,
 * given to each as its table entry's opaque. */
struct vm_mon_info {
    struct rv_machine *const *m; /* borrowed: NULL until the machine exists */
    struct chr_ctx *chrs;        /* borrowed; NULL: no chardevs */
    bool singlestep;             /* HMP `singlestep`; no effect on execution */
    struct mon_cmd *cmds;        /* info_cmds with opaque = this */
    struct mon_cmd *chr_cmds;    /* chr_cmds (machine-mon-chr.c), the same */
    /* HMP `log`/`logfile`: the program's receiver (saved at first use) and
     * the monitor's file. */
    bool log_saved;
    rv_log_fn *log_orig_fn;
    void *log_orig_opaque;
    char *log_name; /* NULL: the program's receiver (-D file or stderr) */
    FILE *log_file;
    bool log_append; /* reopen log_name for appending */
};

/* The context of a request to one of these commands. */
static inline struct vm_mon_info *vm_mon_info_of(struct mon_req *req)
{
    return (struct vm_mon_info *)mon_req_opaque(req);
}

/* The machine, or NULL with @err set ("The machine is not ready"). */
static inline struct rv_machine *vm_mon_info_machine(struct mon_req *req,
                                                     struct err *err)
{
    struct rv_machine *m = *vm_mon_info_of(req)->m;

    if (!m) {
        err_set(err, -EAGAIN, "The machine is not ready");
    }
    return m;
}

/*
 * Create the monitor from @mc with the `$register` resolver of HMP
 * expressions wired to the hart (@mc is updated), and register the
 * inspection commands (info cpus/mem/..., p, cpu, gva2gpa, memsave,
 * pmemsave, sum, sendkey, ...). @m points at the caller's machine pointer,
 * read at each command (NULL until the machine exists); @chrs is borrowed.
 * Returns 0 and sets *@mon_out (free with mon_free()) and *@out (free with
 * vm_mon_info_free() after mon_free()), or -ENOMEM, -EINVAL.
 */
int vm_mon_info_new(struct mon_config *mc, struct rv_machine *const *m,
                    struct chr_ctx *chrs, struct mon **mon_out,
                    struct vm_mon_info **out, struct err *err);
/* Accepts NULL. Call after mon_free(): the monitor borrows the table. */
void vm_mon_info_free(struct vm_mon_info *info);
/* HMP `singlestep`'s flag, for query-status's "singlestep" member. */
bool vm_mon_info_singlestep(const struct vm_mon_info *info);

/* ---- machine-mon-chr.c: sendkey, chardev-add, chardev-remove ---- */

/*
 * Register the chardev-side commands into @mon with @info as their context;
 * the table copy goes to @info->chr_cmds (freed by vm_mon_info_free()).
 * Returns 0, or -ENOMEM, -EINVAL.
 */
int vm_mon_chr_register(struct mon *mon, struct vm_mon_info *info,
                        struct err *err);

#endif /* EMULATOR_MACHINE_MON_INT_H */
