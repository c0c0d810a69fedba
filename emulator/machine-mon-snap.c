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
#include "common/loop.h"
#include "emulator/machine-mon-int.h"
#include "emulator/rv-int.h"
#include "monitor/mon.h"

/* Jobs kept until job-dismiss: QEMU has no limit; ours bounds memory. */
#define VM_MAX_JOBS 64
#define JOB_ID_MAX  128

/* A snapshot job (QEMU's Job): it runs to completion inside its command;
 * the events after "running" follow the command's return. */
struct snap_job {
    char id[JOB_ID_MAX + 1];
    const char *type;   /* "snapshot-save", ... */
    const char *status; /* QEMU's JobStatus name */
    char *error;        /* NULL: succeeded */
    bool used;
    struct vm_mon_snap *ms;
};

struct vm_mon_snap {
    struct rv_machine *const *m;
    struct rv_snap_drive drives[RV_VIRTIO_SLOTS];
    size_t nb_drives;
    struct mon_cmd *cmds; /* snap_cmds with opaque = this */
    struct mon *mon;
    struct snap_job jobs[VM_MAX_JOBS];
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
    struct rv_snap_record r;
    struct mon_json *o;
    int ret = rv_snap_disk_delete(s, mon_req_arg_str(req, "device"),
                                  mon_req_arg_str(req, "id"),
                                  mon_req_arg_str(req, "name"), &r, err);

    if (ret < 0) {
        return ret;
    }
    /* QEMU's SnapshotInfo, in its member order. */
    o = mon_json_object_new();
    if (!o || mon_json_object_set_take(o, "id", mon_json_str_new(r.id)) < 0 ||
        mon_json_object_set_take(o, "name", mon_json_str_new(r.tag)) < 0 ||
        mon_json_object_set_take(o, "vm-state-size",
                                 mon_json_uint_new(r.vm_state_size)) < 0 ||
        mon_json_object_set_take(o, "date-sec", mon_json_uint_new(r.date_sec)) <
            0 ||
        mon_json_object_set_take(o, "date-nsec",
                                 mon_json_uint_new(r.date_nsec)) < 0 ||
        mon_json_object_set_take(
            o, "vm-clock-sec", mon_json_uint_new(r.vm_clock_ns / 1000000000)) <
            0 ||
        mon_json_object_set_take(
            o, "vm-clock-nsec", mon_json_uint_new(r.vm_clock_ns % 1000000000)) <
            0 ||
        (r.icount != UINT64_MAX &&
         mon_json_object_set_take(o, "icount", mon_json_uint_new(r.icount)) <
             0)) {
        mon_json_free(o);
        return err_set(err, -ENOMEM, "out of memory");
    }
    mon_req_return_take(req, o);
    return 0;
}

/* ---- snapshot jobs (QMP snapshot-save, -load, -delete) ---- */

static void job_event(struct snap_job *j, const char *status)
{
    struct mon_json *d = mon_json_object_new();

    j->status = status;
    if (d &&
        mon_json_object_set_take(d, "status", mon_json_str_new(status)) == 0 &&
        mon_json_object_set_take(d, "id", mon_json_str_new(j->id)) == 0) {
        mon_event_emit(j->ms->mon, "JOB_STATUS_CHANGE", d);
    }
    mon_json_free(d);
}

/* After the command's return: QEMU's completion (or abort) events. */
static void job_finish(void *opaque)
{
    struct snap_job *j = opaque;

    if (j->error) {
        job_event(j, "aborting");
    } else {
        job_event(j, "waiting");
        job_event(j, "pending");
    }
    job_event(j, "concluded");
}

static struct snap_job *job_find(struct vm_mon_snap *ms, const char *id)
{
    for (unsigned i = 0; i < VM_MAX_JOBS; i++) {
        if (ms->jobs[i].used && !strcmp(ms->jobs[i].id, id)) {
            return &ms->jobs[i];
        }
    }
    return NULL;
}

/* The devices argument as a NULL-terminated array (@dst has
 * RV_VIRTIO_SLOTS + 1 entries). */
static int job_devices(struct mon_req *req, const char **dst, struct err *err)
{
    const struct mon_json *a =
        mon_json_object_get(mon_req_args(req), "devices");
    size_t n = mon_json_len(a);

    if (n > RV_VIRTIO_SLOTS) {
        return err_set(err, -EINVAL, "at most %d devices", RV_VIRTIO_SLOTS);
    }
    for (size_t i = 0; i < n; i++) {
        dst[i] = mon_json_str_get(mon_json_array_get(a, i));
    }
    dst[n] = NULL;
    return 0;
}

static int job_run(struct mon_req *req, const char *type, struct err *err)
{
    struct vm_mon_snap *ms = mon_req_opaque(req);
    const char *id = mon_req_arg_str(req, "job-id");
    const char *tag = mon_req_arg_str(req, "tag");
    const char *vmstate = mon_req_arg_str(req, "vmstate");
    const char *devices[RV_VIRTIO_SLOTS + 1];
    struct snap_job *j = NULL;
    struct rv_snap *s = snap_of(req, err);
    struct loop *l;
    struct err e = {0, ""};
    int ret;

    if (!s) {
        return -EAGAIN;
    }
    if (job_find(ms, id)) {
        return err_set(err, -EEXIST, "Job ID '%s' already in use", id);
    }
    if (strlen(id) > JOB_ID_MAX) {
        return err_set(err, -EINVAL, "Invalid job ID '%s'", id);
    }
    for (unsigned i = 0; i < VM_MAX_JOBS && !j; i++) {
        if (!ms->jobs[i].used) {
            j = &ms->jobs[i];
        }
    }
    if (!j) {
        return err_set(err, -ENOSPC, "too many jobs: dismiss some first");
    }
    ret = job_devices(req, devices, err);
    if (ret < 0) {
        return ret;
    }
    memset(j, 0, sizeof(*j));
    snprintf(j->id, sizeof(j->id), "%s", id);
    j->type = type;
    j->used = true;
    j->ms = ms;
    job_event(j, "created");
    job_event(j, "running");
    if (!strcmp(type, "snapshot-save")) {
        ret = rv_snap_save(s, tag, false, vmstate, devices, &e);
    } else if (!strcmp(type, "snapshot-load")) {
        ret = rv_snap_load(s, tag, vmstate, devices, &e);
    } else {
        ret = rv_snap_delete(s, tag, devices, &e);
    }
    if (ret < 0) {
        j->error = mem_strdup(e.msg);
    }
    l = *ms->m ? rv_machine_loop(*ms->m) : NULL;
    if (!l || loop_timer_add(l, loop_now_ns(), job_finish, j) < 0) {
        job_finish(j);
    }
    return 0;
}

static int cmd_snapshot_save(struct mon_req *req, struct err *err)
{
    return job_run(req, "snapshot-save", err);
}

static int cmd_snapshot_load(struct mon_req *req, struct err *err)
{
    return job_run(req, "snapshot-load", err);
}

static int cmd_snapshot_delete(struct mon_req *req, struct err *err)
{
    return job_run(req, "snapshot-delete", err);
}

static int cmd_query_jobs(struct mon_req *req, struct err *err)
{
    struct vm_mon_snap *ms = mon_req_opaque(req);
    struct mon_json *a = mon_json_array_new();

    for (unsigned i = 0; a && i < VM_MAX_JOBS; i++) {
        const struct snap_job *j = &ms->jobs[i];
        struct mon_json *o;

        if (!j->used) {
            continue;
        }
        o = mon_json_object_new();
        if (!o ||
            mon_json_object_set_take(o, "current-progress",
                                     mon_json_int_new(1)) < 0 ||
            mon_json_object_set_take(o, "status", mon_json_str_new(j->status)) <
                0 ||
            mon_json_object_set_take(o, "total-progress", mon_json_int_new(1)) <
                0 ||
            mon_json_object_set_take(o, "type", mon_json_str_new(j->type)) <
                0 ||
            mon_json_object_set_take(o, "id", mon_json_str_new(j->id)) < 0 ||
            (j->error && mon_json_object_set_take(
                             o, "error", mon_json_str_new(j->error)) < 0) ||
            mon_json_array_append_take(a, o) < 0) {
            mon_json_free(o);
            mon_json_free(a);
            return err_set(err, -ENOMEM, "out of memory");
        }
    }
    if (!a) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    mon_req_return_take(req, a);
    return 0;
}

static int cmd_job_dismiss(struct mon_req *req, struct err *err)
{
    struct vm_mon_snap *ms = mon_req_opaque(req);
    struct snap_job *j = job_find(ms, mon_req_arg_str(req, "id"));

    if (!j) {
        return err_set(err, -ENOENT, "Job not found");
    }
    if (strcmp(j->status, "concluded")) {
        return err_set(err, -EBUSY,
                       "Job '%s' in state '%s' cannot accept command verb "
                       "'dismiss'",
                       j->id, j->status);
    }
    job_event(j, "null");
    mem_free(j->error);
    memset(j, 0, sizeof(*j));
    return 0;
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
    {"snapshot-save", NULL, "{job-id:str,tag:str,vmstate:str,devices:[str]}",
     NULL, NULL, NULL, NULL, cmd_snapshot_save, NULL, 0, NULL},
    {"snapshot-load", NULL, "{job-id:str,tag:str,vmstate:str,devices:[str]}",
     NULL, NULL, NULL, NULL, cmd_snapshot_load, NULL, 0, NULL},
    {"snapshot-delete", NULL, "{job-id:str,tag:str,devices:[str]}", NULL, NULL,
     NULL, NULL, cmd_snapshot_delete, NULL, 0, NULL},
    {"query-jobs", NULL, NULL,
     "[{id:str,type:str,status:str,current-progress:int,total-progress:int,"
     "*error:str}]",
     NULL, NULL, NULL, cmd_query_jobs, NULL, 0, NULL},
    {"job-dismiss", NULL, "{id:str}", NULL, NULL, NULL, NULL, cmd_job_dismiss,
     NULL, 0, NULL},
    {"blockdev-snapshot-internal-sync", NULL, "{device:str,name:str}", NULL,
     NULL, NULL, NULL, cmd_internal_sync, NULL, 0, NULL},
    {"blockdev-snapshot-delete-internal-sync", NULL,
     "{device:str,*id:str,*name:str}",
     "{id:str,name:str,vm-state-size:int,date-sec:int,date-nsec:int,"
     "vm-clock-sec:int,vm-clock-nsec:int,*icount:int}",
     NULL, NULL, NULL, cmd_delete_internal_sync, NULL, 0, NULL},
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
    ms->mon = mon;
    for (size_t i = 0; i < nb_drives && i < RV_VIRTIO_SLOTS; i++) {
        ms->drives[i].device = drives[i].device;
        ms->drives[i].node_name = drives[i].node_name;
        ms->drives[i].file = drives[i].cfg.file;
        ms->nb_drives++;
    }
    ret = vm_mon_cmds_register(mon, snap_cmds, n, ms, &ms->cmds, err);
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
    for (unsigned i = 0; i < VM_MAX_JOBS; i++) {
        mem_free(ms->jobs[i].error);
    }
    mem_free(ms->cmds);
    mem_free(ms);
}
