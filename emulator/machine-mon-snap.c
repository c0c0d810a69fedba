/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-mon-snap.c - the snapshot commands of the monitor:
 * HMP savevm, loadvm, delvm, info snapshots, and QMP
 * blockdev-snapshot-internal-sync / -delete-internal-sync, over
 * machine-snap.c.
 */
#include "emulator/machine-mon.h"

#include <inttypes.h>
#include <string.h>

#include "common/alloc.h"
#include "emulator/machine-mon-int.h"
#include "emulator/rv-int.h"
#include "monitor/mon.h"

struct vm_mon_snap {
    struct rv_machine *const *m;
    struct rv_snap_drive drives[RV_VIRTIO_SLOTS];
    size_t nb_drives;
    struct mon_cmd *cmds; /* snap_cmds with opaque = this */
};

static struct rv_snap *snap_of(struct mon_req *req, struct err *err)
{
    struct vm_mon_snap *ms = mon_req_opaque(req);
    struct rv_snap *s = NULL;

    if (!*ms->m) {
        err_set(err, -EAGAIN, "The machine is not ready");
        return NULL;
    }
    if (rv_snap_get(*ms->m, ms->drives, ms->nb_drives, &s, err) < 0) {
        return NULL;
    }
    return s;
}

/* QEMU's hmp_handle_error(): "Error: " and the message, as output. */
static int hmp_result(struct mon_req *req, int ret, const struct err *e)
{
    if (ret < 0) {
        mon_req_printf(req, "Error: %s\n", e->msg);
    }
    return 0;
}

static int cmd_savevm(struct mon_req *req, struct err *err)
{
    struct rv_snap *s = snap_of(req, err);

    if (!s) {
        return -EAGAIN;
    }
    struct err e = {0, ""};

    (void)err;
    return hmp_result(
        req,
        rv_snap_save(s, mon_req_arg_str(req, "name"), true, NULL, NULL, &e),
        &e);
}

static int cmd_loadvm(struct mon_req *req, struct err *err)
{
    struct rv_snap *s = snap_of(req, err);

    if (!s) {
        return -EAGAIN;
    }
    struct err e = {0, ""};

    return hmp_result(
        req, rv_snap_load(s, mon_req_arg_str(req, "name"), NULL, NULL, &e), &e);
}

static int cmd_delvm(struct mon_req *req, struct err *err)
{
    struct rv_snap *s = snap_of(req, err);

    if (!s) {
        return -EAGAIN;
    }
    struct err e = {0, ""};

    return hmp_result(
        req, rv_snap_delete(s, mon_req_arg_str(req, "name"), NULL, &e), &e);
}

static int cmd_info_snapshots(struct mon_req *req, struct err *err)
{
    struct rv_snap *s = snap_of(req, err);
    char *text = NULL;
    int ret;

    if (!s) {
        return -EAGAIN;
    }
    ret = rv_snap_info(s, &text, err);
    if (ret < 0) {
        return ret;
    }
    mon_req_printf(req, "%s", text);
    mem_free(text);
    return 0;
}

static int cmd_internal_sync(struct mon_req *req, struct err *err)
{
    struct rv_snap *s = snap_of(req, err);

    if (!s) {
        return -EAGAIN;
    }
    return rv_snap_disk_create(s, mon_req_arg_str(req, "device"),
                               mon_req_arg_str(req, "name"), err);
}

static int cmd_delete_internal_sync(struct mon_req *req, struct err *err)
{
    struct rv_snap *s = snap_of(req, err);

    if (!s) {
        return -EAGAIN;
    }
    return rv_snap_disk_delete(s, mon_req_arg_str(req, "device"),
                               mon_req_arg_str(req, "id"),
                               mon_req_arg_str(req, "name"), err);
}

static const struct mon_cmd snap_cmds[] = {
    {NULL, "savevm", NULL, NULL, "name:s?", "[tag]",
     "save a VM snapshot. If no tag is provided, a new snapshot is created",
     cmd_savevm, NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "loadvm", NULL, NULL, "name:s", "tag",
     "restore a VM snapshot from its tag", cmd_loadvm, NULL, MON_CMD_HMP_ONLY,
     NULL},
    {NULL, "delvm", NULL, NULL, "name:s", "tag",
     "delete a VM snapshot from its tag", cmd_delvm, NULL, MON_CMD_HMP_ONLY,
     NULL},
    {NULL, "info snapshots", NULL, NULL, NULL, NULL,
     "show the currently saved VM snapshots", cmd_info_snapshots, NULL,
     MON_CMD_HMP_ONLY, NULL},
    {"blockdev-snapshot-internal-sync", NULL, "{device:str,name:str}", NULL,
     NULL, NULL, NULL, cmd_internal_sync, NULL, 0, NULL},
    {"blockdev-snapshot-delete-internal-sync", NULL,
     "{device:str,*id:str,*name:str}", NULL, NULL, NULL, NULL,
     cmd_delete_internal_sync, NULL, 0, NULL},
};

int vm_mon_snap_register(struct mon *mon, struct rv_machine *const *m,
                         const struct vm_mon_drive *drives, size_t nb_drives,
                         struct vm_mon_snap **out, struct err *err)
{
    size_t n = sizeof(snap_cmds) / sizeof(snap_cmds[0]);
    struct vm_mon_snap *ms = mem_calloc(1, sizeof(*ms));
    int ret;

    if (!ms) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    ms->m = m;
    for (size_t i = 0; i < nb_drives && i < RV_VIRTIO_SLOTS; i++) {
        ms->drives[i].device = drives[i].device;
        ms->drives[i].node_name = drives[i].node_name;
        ms->drives[i].file = drives[i].cfg.file;
        ms->nb_drives++;
    }
    ms->cmds = mem_alloc(sizeof(snap_cmds));
    if (!ms->cmds) {
        mem_free(ms);
        return err_set(err, -ENOMEM, "out of memory");
    }
    memcpy(ms->cmds, snap_cmds, sizeof(snap_cmds));
    for (size_t i = 0; i < n; i++) {
        ms->cmds[i].opaque = ms;
    }
    ret = mon_cmd_register(mon, ms->cmds, n, err);
    if (ret < 0) {
        vm_mon_snap_free(ms);
        return ret;
    }
    *out = ms;
    return 0;
}

void vm_mon_snap_free(struct vm_mon_snap *ms)
{
    if (!ms) {
        return;
    }
    mem_free(ms->cmds);
    mem_free(ms);
}
