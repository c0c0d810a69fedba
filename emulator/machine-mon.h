/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-mon.h - the rrvm binary's monitor glue (internal to the
 * binary): monitor sessions on chardevs, the machine's commands, and the
 * machine's events forwarded as QMP events.
 */
#ifndef EMULATOR_MACHINE_MON_H
#define EMULATOR_MACHINE_MON_H

#include <stdbool.h>
#include <stddef.h>

#include "chardev/chardev.h"
#include "common/err.h"
#include "emulator/rv.h"

struct vm_mon; /* opaque: the monitor and its sessions */
struct mon;

/* One -drive, as the block commands show it (machine-mon-block.c). */
struct vm_mon_drive {
    const char *device;    /* BlockBackend name: id=, or "virtio<N>" */
    const char *node_name; /* node-name=; NULL: an automatic "#block" name */
    const char *qdev;      /* "/machine/peripheral-anon/device[0]"; NULL */
    struct rv_drive_config cfg;
};

struct vm_mon_config {
    const char *name;                  /* -name; NULL if none */
    const char *uuid;                  /* -uuid; NULL: the all-zero UUID */
    struct chr_ctx *chrs;              /* borrowed: for query-chardev */
    const char *qemu_pkg;              /* query-version "package" */
    const struct vm_mon_drive *drives; /* borrowed for the monitor's life */
    size_t nb_drives;
};

/* Create the monitor with the machine commands registered. Returns 0 and
 * *@out, or -ENOMEM / -EINVAL (a bad command table entry). */
int vm_mon_new(const struct vm_mon_config *cfg, struct vm_mon **out,
               struct err *err);
/* Frees the sessions and the monitor. Accepts NULL. */
void vm_mon_free(struct vm_mon *vm);
/* The monitor, to register more commands into (borrowed). */
struct mon *vm_mon_monitor(struct vm_mon *vm);
/* The machine the commands act on (borrowed; NULL before it exists). */
void vm_mon_set_machine(struct vm_mon *vm, struct rv_machine *m);
/* A monitor session (HMP when !@qmp) on @c. Returns 0, or -EBUSY
 * ("chardev 'x' is already in use"), -ENOMEM. */
int vm_mon_attach(struct vm_mon *vm, struct chr *c, bool qmp, bool pretty,
                  struct err *err);
/* An rv_event_fn: forwards machine events to every QMP session. */
void vm_mon_event(void *opaque, enum rv_event ev, enum rv_shutdown_cause cause);

/* ---- machine-mon-block.c: info block, query-block, eject, change ---- */

struct mon;
struct vm_mon_block; /* opaque: the block commands' table and node names */

/*
 * Register the block commands into @mon for @drives (borrowed until
 * vm_mon_block_free()); @m points at the machine pointer, read at each
 * command (NULL until the machine exists). Returns 0 and sets *@out, or
 * -ENOMEM, -EINVAL.
 */
int vm_mon_block_register(struct mon *mon, struct rv_machine *const *m,
                          const struct vm_mon_drive *drives, size_t nb_drives,
                          struct vm_mon_block **out, struct err *err);
/* Accepts NULL. Call after mon_free(): the monitor borrows the table. */
void vm_mon_block_free(struct vm_mon_block *b);
/* Commit every drive that has a backing file (or a -snapshot overlay), as
 * `commit all`; the mux's Ctrl-a s. Returns 0 or the first -errno. */
int vm_mon_block_commit_all(struct vm_mon_block *b, struct err *err);
/* The same for the monitor's drives. */
int vm_mon_commit_all(struct vm_mon *vm, struct err *err);

/* ---- machine-mon-snap.c: savevm, loadvm, delvm, info snapshots ---- */

struct vm_mon_snap; /* opaque: the snapshot commands' table */

/*
 * Register the snapshot commands into @mon. @m points at the machine
 * pointer (NULL until the machine exists); @drives names the disks
 * (borrowed until vm_mon_snap_free()). Returns 0 and sets *@out, or
 * -ENOMEM, -EINVAL.
 */
int vm_mon_snap_register(struct mon *mon, struct rv_machine *const *m,
                         const struct vm_mon_drive *drives, size_t nb_drives,
                         struct vm_mon_snap **out, struct err *err);
/* Accepts NULL. Call after mon_free(). */
void vm_mon_snap_free(struct vm_mon_snap *ms);

/* ---- machine-mon-migrate.c: migrate, -incoming, query-migrate ---- */

struct vm_mon_migrate; /* opaque: the migration commands and capabilities */

/*
 * Register the migration commands into @mon; @m points at the machine
 * pointer (NULL until the machine exists). Returns 0 and sets *@out, or
 * -ENOMEM, -EINVAL.
 */
int vm_mon_migrate_register(struct mon *mon, struct rv_machine *const *m,
                            struct vm_mon_migrate **out, struct err *err);
/* Accepts NULL. Call after mon_free(). */
void vm_mon_migrate_free(struct vm_mon_migrate *mm);
/*
 * -incoming @uri ("defer": wait for migrate-incoming): the machine enters
 * inmigrate; it runs after the stream if @autostart (no -S). A failed load
 * quits the machine (vm_mon_migrate_failed()). Returns 0, or -errno with
 * QEMU's message.
 */
int vm_mon_migrate_incoming(struct vm_mon_migrate *mm, const char *uri,
                            bool autostart, struct err *err);
/* Whether an incoming migration failed (the exit status is then 1). */
bool vm_mon_migrate_failed(const struct vm_mon_migrate *mm);
/*
 * `cont` during a migration, as QEMU 7.2's qmp_cont(): in inmigrate it
 * only makes the machine start after the stream (returns 1); while a
 * source sends its stream it refuses (-EBUSY with @err); a source in
 * postmigrate takes its disks back first (QEMU's bdrv_activate_all(); an
 * error if the destination holds them). Returns 0 when cont may go on.
 */
int vm_mon_migrate_cont(struct vm_mon_migrate *mm, struct err *err);
/* The monitor's migration commands (NULL before vm_mon_new()). */
struct vm_mon_migrate *vm_mon_migration(struct vm_mon *vm);

#endif /* EMULATOR_MACHINE_MON_H */
