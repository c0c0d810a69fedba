/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-mon-int.h - internals shared by the rrvm binary's monitor
 * files (machine-mon.c and machine-mon-*.c), grouped by defining file.
 */
#ifndef EMULATOR_MACHINE_MON_INT_H
#define EMULATOR_MACHINE_MON_INT_H

#include "chardev/chardev.h"
#include "common/err.h"
#include "emulator/rv.h"
#include "monitor/mon.h"

/* ---- machine-mon-info.c: inspection and the remaining issue-10 commands */

struct vm_mon_info; /* opaque: the command table copy and its context */

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

#endif /* EMULATOR_MACHINE_MON_INT_H */
