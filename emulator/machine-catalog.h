/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-catalog.h - the rrvm binary keeps the snapshot catalog
 * (catalog/catalog.h) current and offers its monitor commands. A catalog
 * problem is one warning per process on stderr, never a failed snapshot.
 */
#ifndef EMULATOR_MACHINE_CATALOG_H
#define EMULATOR_MACHINE_CATALOG_H

#include <stddef.h>

#include "common/err.h"
#include "emulator/rv.h"

struct vm_catalog; /* opaque: the catalog as rrvm uses it */
struct mon;
struct rv_snap_drive; /* emulator/rv-int.h */

/*
 * A catalog at @path (-catalog FILE; NULL: $RRVM_CATALOG or the default,
 * as rrvm-img). Opened at first use. Returns 0 and *@out (free with
 * vm_catalog_free()), or -ENOMEM.
 */
int vm_catalog_new(const char *path, struct vm_catalog **out, struct err *err);
/* Accepts NULL. Call after mon_free() and rv_machine_free(). */
void vm_catalog_free(struct vm_catalog *c);
/*
 * Reconcile every qcow2 disk of @m (not -snapshot overlays) and record
 * every later savevm, loadvm and delvm of @m (@drives: the monitor's
 * names, as rv_snap_get()). Catalog failures are warnings. Returns 0, or
 * -ENOMEM from the snapshot context.
 */
int vm_catalog_attach(struct vm_catalog *c, struct rv_machine *m,
                      const struct rv_snap_drive *drives, size_t nb_drives,
                      struct err *err);
/* Register the catalog commands (__org.rrvm_query-catalog, ...) into
 * @mon; the table is borrowed until vm_catalog_free(). Returns 0 or
 * -ENOMEM, -EINVAL. */
int vm_catalog_register(struct vm_catalog *c, struct mon *mon, struct err *err);

#endif /* EMULATOR_MACHINE_CATALOG_H */
