/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-migrate.h - migration of a machine to and from a stream
 * (QEMU 7.2's exec:, tcp:, unix: URIs and rrvm's file:), non-blocking
 * through the machine's loop. Stream format: docs/formats/migration.md.
 */
#ifndef EMULATOR_MACHINE_MIGRATE_H
#define EMULATOR_MACHINE_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "emulator/rv.h"

struct rv_mig; /* opaque: one machine's migration, either direction */

/* QEMU's MigrationStatus values that rrvm reaches. */
enum rv_mig_status {
    RV_MIG_NONE = 0, /* never started: query-migrate returns {} */
    RV_MIG_SETUP,
    RV_MIG_ACTIVE,
    RV_MIG_COMPLETED,
    RV_MIG_FAILED,
    RV_MIG_CANCELLING,
    RV_MIG_CANCELLED,
};

/* QEMU's name of @s ("setup", "active", ...). */
const char *rv_mig_status_name(enum rv_mig_status s);

/* What query-migrate reports. */
struct rv_mig_info {
    enum rv_mig_status status;
    bool incoming;
    bool listening;       /* incoming tcp:/unix: waiting for the source */
    uint64_t setup_ms;    /* start to active */
    uint64_t total_ms;    /* start to now, or to the end */
    uint64_t downtime_ms; /* stopped while sending (outgoing, completed) */
    uint64_t ram_total;   /* bytes of guest RAM */
    uint64_t transferred; /* bytes of stream written or read */
    uint64_t remaining;   /* bytes of RAM not yet scanned */
    uint64_t duplicate;   /* zero pages elided */
    uint64_t normal;      /* pages sent */
    uint64_t passes;      /* dirty-sync-count */
    double mbps;
    char error[256]; /* status failed: why; "" otherwise */
};

/* Called at each status change (@pass 0), and with @pass > 0 for QEMU's
 * MIGRATION_PASS event (then @status is the current status). */
typedef void rv_mig_notify_fn(void *opaque, enum rv_mig_status status,
                              unsigned pass);

/*
 * A migration context for @m (borrowed; the loop of its configuration
 * serves the streams). Returns 0 and *@out (free with rv_mig_free()), or
 * -ENOMEM.
 */
int rv_mig_new(struct rv_machine *m, rv_mig_notify_fn *fn, void *opaque,
               struct rv_mig **out, struct err *err);
/* Cancels what is in progress (without notifying) and frees. Accepts
 * NULL. */
void rv_mig_free(struct rv_mig *g);

/*
 * Start sending the machine to @uri. Returns 0 once the stream is set up
 * (status setup; the transfer continues in the loop), or -EINVAL with
 * QEMU's message (unknown scheme, a migration in progress, an incoming
 * machine), -errno if the channel cannot be opened (status failed). A
 * socket whose connect fails ends in status failed from the loop, as
 * QEMU's asynchronous connect (the command succeeds).
 */
int rv_mig_start(struct rv_mig *g, const char *uri, struct err *err);
/*
 * Wait for a stream on @uri and load it; the machine should be in
 * inmigrate. On success the machine runs if @autostart and the source
 * was running, else it is paused. Returns 0 (status setup), or -EINVAL,
 * -errno as rv_mig_start(). A failed load ends in status failed with
 * rv_mig_info().error set.
 */
int rv_mig_incoming(struct rv_mig *g, const char *uri, bool autostart,
                    struct err *err);
/* migrate_cancel: stop an outgoing migration (the machine runs again if
 * it was running). No-op otherwise. */
void rv_mig_cancel(struct rv_mig *g);
void rv_mig_info(const struct rv_mig *g, struct rv_mig_info *out);
/* `cont` in inmigrate: start after the stream whatever -S said. */
void rv_mig_set_autostart(struct rv_mig *g, bool autostart);

#endif /* EMULATOR_MACHINE_MIGRATE_H */
