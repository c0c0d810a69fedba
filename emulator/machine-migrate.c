/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-migrate.c - migration to and from a stream: the URIs,
 * the non-blocking channel, the writer and the parser of the stream
 * (docs/formats/migration.md) over the one serialiser (vmstate.c).
 *
 * DESIGN NOTES
 * 1. One stop-and-copy pass: the source stops (finish-migrate) and sends
 *    header, vmstate blob, non-zero RAM pages and the end record; nothing
 *    the guest does can change RAM while it is sent. Records are made on
 *    demand, one buffer at a time, as the channel takes them, so the
 *    monitor keeps answering and memory stays bounded.
 * 2. The destination checks the header and the blob against its own
 *    configuration before it writes RAM; the machine state is applied only
 *    after the end record's checksum and state hash matched, so a refused
 *    stream never runs.
 * 3. At most one migration exists per context: status setup or active
 *    means a channel (fd >= 0) is open.
 *
 *   outgoing: none -> setup (channel open) -> active (stopped, sending)
 *             -> completed (postmigrate) | failed | cancelled (runs again)
 *   incoming: none -> setup (waiting) -> active (reading)
 *             -> completed (running or paused) | failed
 */
#include "emulator/machine-migrate.h"

#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/hash.h"
#include "common/loop.h"
#include "emulator/rv-int.h"

#define PAGE                4096u
#define MIG_MAGIC           0x474d5252u /* "RRMG" */
#define MIG_VERSION         1u
#define MIG_HDR_LEN         64u
#define MIG_HDR_MAX_LEN     4096u /* room for later header fields */
#define MIG_INCOMPAT_KNOWN  0u
#define MIG_FLAG_VSLICE_NEW 1u
#define MIG_FLAG_RUNNING    2u
#define REC_HDR_LEN         16u
#define REC_PAGES           1u
#define REC_END             2u
#define END_TAIL_LEN        (RV_STATE_HASH_LEN + 4u)
/* Pages per PAGES record: 1 MiB, one write buffer. */
#define MIG_RUN_PAGES 256u
#define MIG_BUF_CAP   (REC_HDR_LEN + MIG_RUN_PAGES * PAGE)
/* Writes per loop turn: at most 64 MiB before the loop serves others. */
#define MIG_WRITES_PER_CALL 64
/* How often a finished exec: command is looked for. */
#define MIG_REAP_NS 5000000ull

enum chan_kind {
    CHAN_EXEC,
    CHAN_TCP,
    CHAN_UNIX,
    CHAN_FILE,
};

/* Where the incoming parser stands. */
enum rd_stage {
    RD_HDR,
    RD_HDR_EXTRA,
    RD_BLOB,
    RD_REC,
    RD_PAGES,
    RD_END,
    RD_DONE,
};

struct rv_mig {
    struct rv_machine *m;
    struct loop *loop;
    rv_mig_notify_fn *notify;
    void *opaque;
    enum rv_mig_status status;
    bool incoming;
    bool autostart;
    bool was_running;
    enum rv_runstate prev_state; /* outgoing: the run state before */
    int fd;                      /* the channel; -1 if none */
    int listen_fd;               /* incoming tcp:/unix: before accept; -1 */
    pid_t child;                 /* exec: command; 0 if none */
    int64_t timer;               /* pending timer id; 0 if none */
    char unix_path[108];
    uint64_t t_start, t_active, t_stop, t_end; /* loop_now_ns() */
    uint64_t transferred, duplicate, normal, passes;
    uint32_t crc; /* running CRC32C of the stream so far */
    char error[256];
    /* outgoing */
    uint8_t *buf; /* MIG_BUF_CAP bytes */
    size_t buf_len, buf_off;
    uint64_t next_page;
    bool end_queued;
    bool failed;         /* out_fill() could not inactivate the disks */
    bool connect_failed; /* the connect failed at once; error set */
    uint8_t hash[RV_STATE_HASH_LEN];
    /* incoming */
    enum rd_stage stage;
    uint8_t *dst; /* where the current read goes */
    size_t want, got;
    uint8_t hdr[MIG_HDR_LEN];
    uint8_t rec[REC_HDR_LEN + END_TAIL_LEN];
    uint8_t *blob;
    size_t blob_len;
    size_t extra; /* header bytes past MIG_HDR_LEN still to skip */
    uint64_t pages_read;
    struct rv_machine_loop lp;
    bool src_running;
};

const char *rv_mig_status_name(enum rv_mig_status s)
{
    static const char *const names[] = {
        [RV_MIG_NONE] = "none",           [RV_MIG_SETUP] = "setup",
        [RV_MIG_ACTIVE] = "active",       [RV_MIG_COMPLETED] = "completed",
        [RV_MIG_FAILED] = "failed",       [RV_MIG_CANCELLING] = "cancelling",
        [RV_MIG_CANCELLED] = "cancelled",
    };

    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static void set_status(struct rv_mig *g, enum rv_mig_status s)
{
    g->status = s;
    if (g->notify) {
        g->notify(g->opaque, s, 0);
    }
}

static void pass_event(struct rv_mig *g, unsigned pass)
{
    g->passes = pass;
    if (g->notify) {
        g->notify(g->opaque, g->status, pass);
    }
}

int rv_mig_new(struct rv_machine *m, rv_mig_notify_fn *fn, void *opaque,
               struct rv_mig **out, struct err *err)
{
    struct rv_mig *g = mem_calloc(1, sizeof(*g));

    if (!g) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    g->m = m;
    g->loop = rv_machine_loop(m);
    g->notify = fn;
    g->opaque = opaque;
    g->fd = -1;
    g->listen_fd = -1;
    *out = g;
    return 0;
}

/* ---- channels ---- */

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        return -errno;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return 0;
}

/* exec: `sh -c CMD` with its stdin (@outgoing) or stdout on a pipe. */
static int chan_exec(struct rv_mig *g, const char *cmd, bool outgoing,
                     struct err *err)
{
    int p[2];
    pid_t pid;

    if (pipe(p) < 0) {
        return err_set(err, -errno, "pipe: %s", strerror(errno));
    }
    pid = fork();
    if (pid < 0) {
        int e = errno;

        close(p[0]);
        close(p[1]);
        return err_set(err, -e, "fork: %s", strerror(e));
    }
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        if (outgoing) {
            dup2(p[0], STDIN_FILENO);
        } else {
            dup2(p[1], STDOUT_FILENO);
        }
        close(p[0]);
        close(p[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    g->child = pid;
    if (outgoing) {
        close(p[0]);
        g->fd = p[1];
    } else {
        close(p[1]);
        g->fd = p[0];
    }
    set_nonblock(g->fd);
    return 0;
}

/* "HOST:PORT" (HOST may be empty or bracketed) into getaddrinfo results. */
static int resolve(const char *hostport, bool passive, struct addrinfo **res,
                   struct err *err)
{
    struct addrinfo hints;
    char host[256];
    const char *colon = strrchr(hostport, ':');
    size_t hl;
    int rc;

    if (!colon) {
        return err_set(err, -EINVAL, "address '%s' has no port", hostport);
    }
    hl = (size_t)(colon - hostport);
    if (hl >= sizeof(host)) {
        return err_set(err, -EINVAL, "host name too long");
    }
    memcpy(host, hostport, hl);
    host[hl] = 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    rc = getaddrinfo(*host ? host : NULL, colon + 1, &hints, res);
    if (rc != 0) {
        return err_set(err, -EINVAL, "address resolution failed for %s: %s",
                       hostport, gai_strerror(rc));
    }
    return 0;
}

static int unix_addr(const char *path, struct sockaddr_un *sa, struct err *err)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path)) {
        return err_set(err, -EINVAL, "UNIX socket path '%s' is too long", path);
    }
    strcpy(sa->sun_path, path);
    return 0;
}

/* A socket connected (or connecting) to @uri's address (outgoing), or
 * listening on it (incoming). */
static int chan_socket(struct rv_mig *g, enum chan_kind kind, const char *addr,
                       bool outgoing, struct err *err)
{
    struct addrinfo *res = NULL;
    struct sockaddr_un sun;
    const struct sockaddr *sa;
    socklen_t salen;
    int fd, family, ret, one = 1;

    if (kind == CHAN_TCP) {
        ret = resolve(addr, !outgoing, &res, err);
        if (ret < 0) {
            return ret;
        }
        sa = res->ai_addr;
        salen = res->ai_addrlen;
        family = res->ai_family;
    } else {
        ret = unix_addr(addr, &sun, err);
        if (ret < 0) {
            return ret;
        }
        sa = (const struct sockaddr *)&sun;
        salen = sizeof(sun);
        family = AF_UNIX;
    }
    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ret = err_set(err, -errno, "socket: %s", strerror(errno));
        goto out;
    }
    set_nonblock(fd);
    if (outgoing) {
        if (connect(fd, sa, salen) < 0 && errno != EINPROGRESS) {
            /* QEMU connects asynchronously: the migration fails, not the
             * command (rv_mig_start()). */
            snprintf(g->error, sizeof(g->error),
                     "Failed to connect to '%s': %s", addr, strerror(errno));
            g->connect_failed = true;
            close(fd);
            ret = 0;
            goto out;
        }
        g->fd = fd;
    } else {
        if (kind == CHAN_TCP) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        } else {
            unlink(addr);
            snprintf(g->unix_path, sizeof(g->unix_path), "%s", addr);
        }
        if (bind(fd, sa, salen) < 0 || listen(fd, 1) < 0) {
            ret = err_set(err, -errno, "Failed to bind socket: %s",
                          strerror(errno));
            close(fd);
            g->unix_path[0] = 0;
            goto out;
        }
        g->listen_fd = fd;
    }
    ret = 0;
out:
    if (res) {
        freeaddrinfo(res);
    }
    return ret;
}

/* Open @uri's channel. Unknown schemes get QEMU 7.2's message. */
static int chan_open(struct rv_mig *g, const char *uri, bool outgoing,
                     struct err *err)
{
    if (!strncmp(uri, "exec:", 5)) {
        return chan_exec(g, uri + 5, outgoing, err);
    }
    if (!strncmp(uri, "tcp:", 4)) {
        return chan_socket(g, CHAN_TCP, uri + 4, outgoing, err);
    }
    if (!strncmp(uri, "unix:", 5)) {
        return chan_socket(g, CHAN_UNIX, uri + 5, outgoing, err);
    }
    if (!strncmp(uri, "file:", 5)) {
        int fd = outgoing ? open(uri + 5,
                                 O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)
                          : open(uri + 5, O_RDONLY | O_CLOEXEC);

        if (fd < 0) {
            return err_set(err, -errno, "Could not open '%s': %s", uri + 5,
                           strerror(errno));
        }
        set_nonblock(fd);
        g->fd = fd;
        return 0;
    }
    return err_set(err, -EINVAL,
                   "Parameter 'uri' expects a valid migration protocol");
}

/* Wait for the exec: command, as QEMU's qio_channel_command_abort():
 * a command still running (or at once when @kill_it) gets SIGTERM, then
 * SIGKILL after about 100 ms, so a command never hangs the loop. */
static void reap_child(struct rv_mig *g, bool kill_it)
{
    const struct timespec tick = {0, 10000000};

    if (g->child <= 0) {
        return;
    }
    if (kill_it || waitpid(g->child, NULL, WNOHANG) == 0) {
        kill(g->child, SIGTERM);
        for (int i = 0; i < 10; i++) {
            if (waitpid(g->child, NULL, WNOHANG) != 0) {
                g->child = 0;
                return;
            }
            nanosleep(&tick, NULL);
        }
        kill(g->child, SIGKILL);
        waitpid(g->child, NULL, 0);
    }
    g->child = 0;
}

/* Close every descriptor; a running exec: command is killed. */
static void chan_close(struct rv_mig *g, bool kill_it)
{
    if (g->timer) {
        loop_timer_del(g->loop, g->timer);
        g->timer = 0;
    }
    if (g->fd >= 0) {
        loop_fd_del(g->loop, g->fd);
        close(g->fd);
        g->fd = -1;
    }
    if (g->listen_fd >= 0) {
        loop_fd_del(g->loop, g->listen_fd);
        close(g->listen_fd);
        g->listen_fd = -1;
    }
    if (g->unix_path[0]) {
        unlink(g->unix_path);
        g->unix_path[0] = 0;
    }
    reap_child(g, kill_it);
}

static void bufs_free(struct rv_mig *g)
{
    mem_free(g->buf);
    g->buf = NULL;
    mem_free(g->blob);
    g->blob = NULL;
}

void rv_mig_free(struct rv_mig *g)
{
    if (!g) {
        return;
    }
    chan_close(g, true);
    bufs_free(g);
    mem_free(g);
}

/* ---- outgoing ---- */

/* End an outgoing migration with @s; the machine runs again unless it
 * completed. */
static void out_finish(struct rv_mig *g, enum rv_mig_status s)
{
    bool kill_it = s != RV_MIG_COMPLETED;
    struct err e = {0, ""};

    chan_close(g, kill_it);
    bufs_free(g);
    g->t_end = loop_now_ns();
    if (s == RV_MIG_COMPLETED) {
        rv_machine_set_runstate(g->m, RV_RUN_POSTMIGRATE);
        set_status(g, s);
        return;
    }
    if (s == RV_MIG_CANCELLED) {
        set_status(g, RV_MIG_CANCELLING);
    }
    if (rv_machine_blk_set_inactive(g->m, false, &e) < 0 && !g->error[0]) {
        snprintf(g->error, sizeof(g->error), "%s", e.msg);
    }
    if (rv_machine_runstate(g->m) == RV_RUN_FINISH_MIGRATE) {
        if (g->was_running) {
            rv_machine_set_runstate(g->m, RV_RUN_PAUSED);
            rv_machine_cont(g->m, NULL);
        } else {
            rv_machine_set_runstate(g->m, g->prev_state);
        }
    }
    set_status(g, s);
}

static void out_fail(struct rv_mig *g, const char *fmt, const char *why)
{
    snprintf(g->error, sizeof(g->error), fmt, why);
    out_finish(g, RV_MIG_FAILED);
}

/* Fill the buffer with the next record (DESIGN NOTES 1). Returns false
 * when everything, the end record included, was queued. */
static bool out_fill(struct rv_mig *g)
{
    const struct rv_ram *ram = rv_machine_ram(g->m);
    uint64_t npages = ram->size / PAGE, first, n = 0;
    uint8_t *p = g->buf;
    struct err e = {0, ""};

    while (g->next_page < npages &&
           rv_page_is_zero(ram->host + g->next_page * PAGE)) {
        g->next_page++;
        g->duplicate++;
    }
    if (g->next_page < npages) {
        first = g->next_page;
        while (n < MIG_RUN_PAGES && first + n < npages &&
               !rv_page_is_zero(ram->host + (first + n) * PAGE)) {
            memcpy(p + REC_HDR_LEN + n * PAGE, ram->host + (first + n) * PAGE,
                   PAGE);
            n++;
        }
        wr_le32(p, REC_PAGES);
        wr_le32(p + 4, (uint32_t)n);
        wr_le64(p + 8, first);
        g->next_page += n;
        g->normal += n;
        g->buf_len = REC_HDR_LEN + n * PAGE;
        g->buf_off = 0;
        return true;
    }
    if (g->end_queued) {
        return false;
    }
    /* The destination may take the disks once it has the end record. */
    if (rv_machine_blk_set_inactive(g->m, true, &e) < 0) {
        snprintf(g->error, sizeof(g->error), "%s", e.msg);
        g->failed = true;
        return false;
    }
    wr_le32(p, REC_END);
    wr_le32(p + 4, 0);
    wr_le64(p + 8, g->normal);
    memcpy(p + REC_HDR_LEN, g->hash, RV_STATE_HASH_LEN);
    g->crc = hash_crc32c(g->crc, p, REC_HDR_LEN + RV_STATE_HASH_LEN);
    wr_le32(p + REC_HDR_LEN + RV_STATE_HASH_LEN, g->crc);
    g->buf_len = REC_HDR_LEN + END_TAIL_LEN;
    g->buf_off = 0;
    g->end_queued = true;
    return true;
}

static void out_reap(void *opaque)
{
    struct rv_mig *g = opaque;
    int st;
    pid_t r;

    g->timer = 0;
    r = waitpid(g->child, &st, WNOHANG);
    if (r == 0) {
        g->timer =
            loop_timer_add(g->loop, loop_now_ns() + MIG_REAP_NS, out_reap, g);
        return;
    }
    g->child = 0;
    if (r > 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        out_fail(g, "%s", "the migration command failed");
        return;
    }
    out_finish(g, RV_MIG_COMPLETED);
}

/* Everything was written (the disks are inactive): close, wait for an
 * exec: command, complete. */
static void out_done(struct rv_mig *g)
{
    loop_fd_del(g->loop, g->fd);
    close(g->fd);
    g->fd = -1;
    if (g->child > 0) {
        out_reap(g);
        return;
    }
    out_finish(g, RV_MIG_COMPLETED);
}

static void out_writable(void *opaque, int fd, unsigned events)
{
    struct rv_mig *g = opaque;

    (void)events;
    /* Bounded per call (a file is always writable) so the monitor and
     * timers get their turn. */
    for (int i = 0; i < MIG_WRITES_PER_CALL; i++) {
        ssize_t n;

        if (g->buf_off == g->buf_len) {
            if (g->buf_len) {
                g->crc =
                    hash_crc32c(g->crc, g->buf, g->end_queued ? 0 : g->buf_len);
            }
            g->buf_len = 0;
            if (!out_fill(g)) {
                if (g->failed) {
                    out_finish(g, RV_MIG_FAILED);
                } else {
                    out_done(g);
                }
                return;
            }
        }
        n = write(fd, g->buf + g->buf_off, g->buf_len - g->buf_off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return;
            }
            out_fail(g, "Unable to write to socket: %s", strerror(errno));
            return;
        }
        g->buf_off += (size_t)n;
        g->transferred += (uint64_t)n;
    }
}

/* The channel is connected: stop the guest and queue header and blob. */
static void out_begin(struct rv_mig *g)
{
    struct rv_machine_loop lp;
    struct err e = {0, ""};
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    uint8_t *h;

    g->t_active = loop_now_ns();
    pass_event(g, 1);
    set_status(g, RV_MIG_ACTIVE);
    g->prev_state = rv_machine_runstate(g->m);
    g->was_running = rv_machine_vm_stop(g->m, RV_RUN_FINISH_MIGRATE);
    if (!g->was_running) {
        /* Keep the run state the destination should take (paused). */
        rv_machine_set_runstate(g->m, RV_RUN_FINISH_MIGRATE);
    }
    g->t_stop = loop_now_ns();
    pass_event(g, 2);
    if (rv_machine_state_hash(g->m, g->hash) < 0 ||
        rv_machine_vmstate_save(g->m, &blob, &blob_len, &e) < 0) {
        out_fail(g, "%s", e.msg[0] ? e.msg : "cannot save the machine state");
        return;
    }
    g->buf = mem_alloc(MIG_BUF_CAP > MIG_HDR_LEN + blob_len
                           ? MIG_BUF_CAP
                           : MIG_HDR_LEN + blob_len);
    if (!g->buf) {
        mem_free(blob);
        out_fail(g, "%s", "out of memory");
        return;
    }
    rv_machine_loop_get(g->m, &lp);
    h = g->buf;
    memset(h, 0, MIG_HDR_LEN);
    wr_le32(h, MIG_MAGIC);
    wr_le32(h + 4, MIG_VERSION);
    wr_le32(h + 8, MIG_HDR_LEN);
    wr_le32(h + 24, PAGE);
    wr_le32(h + 28, (lp.vslice_new ? MIG_FLAG_VSLICE_NEW : 0) |
                        (g->was_running ? MIG_FLAG_RUNNING : 0));
    wr_le64(h + 32, rv_machine_ram_size(g->m));
    wr_le64(h + 40, blob_len);
    wr_le64(h + 48, lp.vslice_end);
    wr_le32(h + 60, hash_crc32c(0, h, 60));
    memcpy(h + MIG_HDR_LEN, blob, blob_len);
    mem_free(blob);
    g->buf_len = MIG_HDR_LEN + blob_len;
    g->buf_off = 0;
    g->crc = 0;
    g->next_page = 0;
    g->end_queued = false;
    g->failed = false;
    loop_fd_set(g->loop, g->fd, LOOP_WRITE, out_writable, g, NULL);
}

/* A socket finished connecting (or failed to). */
static void out_connected(void *opaque, int fd, unsigned events)
{
    struct rv_mig *g = opaque;
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    (void)events;
    /* A pipe or file has no SO_ERROR: it is ready at once. */
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) {
        soerr = errno == ENOTSOCK ? 0 : errno;
    }
    if (soerr == EINPROGRESS || soerr == EALREADY) {
        return;
    }
    if (soerr) {
        out_fail(g, "Failed to connect socket: %s", strerror(soerr));
        return;
    }
    loop_fd_mask(g->loop, fd, 0);
    out_begin(g);
}

static void reset_stats(struct rv_mig *g, bool incoming)
{
    g->incoming = incoming;
    g->t_start = loop_now_ns();
    g->t_active = g->t_stop = g->t_end = 0;
    g->transferred = g->duplicate = g->normal = g->passes = 0;
    g->error[0] = 0;
    g->connect_failed = false;
}

/* The connect failed at once: fail from the loop, as QEMU's asynchronous
 * connect does. */
static void out_connect_failed(void *opaque)
{
    struct rv_mig *g = opaque;

    g->timer = 0;
    g->connect_failed = false;
    out_finish(g, RV_MIG_FAILED);
}

int rv_mig_start(struct rv_mig *g, const char *uri, struct err *err)
{
    enum rv_runstate rs = rv_machine_runstate(g->m);
    int ret;

    if (g->status == RV_MIG_SETUP || g->status == RV_MIG_ACTIVE ||
        g->status == RV_MIG_CANCELLING) {
        return err_set(err, -EBUSY, "There's a migration process in progress");
    }
    if (rs == RV_RUN_INMIGRATE) {
        return err_set(err, -EINVAL,
                       "Guest is waiting for an incoming migration");
    }
    if (rs == RV_RUN_POSTMIGRATE) {
        return err_set(err, -EINVAL,
                       "Can't migrate the vm that was paused due to "
                       "previous migration");
    }
    reset_stats(g, false);
    set_status(g, RV_MIG_SETUP);
    ret = chan_open(g, uri, true, err);
    if (ret < 0) {
        snprintf(g->error, sizeof(g->error), "%s", err ? err->msg : "");
        g->t_end = loop_now_ns();
        set_status(g, RV_MIG_FAILED);
        return ret;
    }
    if (g->connect_failed) {
        g->timer =
            loop_timer_add(g->loop, loop_now_ns(), out_connect_failed, g);
        if (g->timer <= 0) {
            out_connect_failed(g);
        }
        return 0;
    }
    ret = loop_fd_set(g->loop, g->fd, LOOP_WRITE, out_connected, g, err);
    if (ret < 0) {
        chan_close(g, true);
        set_status(g, RV_MIG_FAILED);
        return ret;
    }
    return 0;
}

void rv_mig_cancel(struct rv_mig *g)
{
    if (g->incoming ||
        (g->status != RV_MIG_SETUP && g->status != RV_MIG_ACTIVE)) {
        return;
    }
    out_finish(g, RV_MIG_CANCELLED);
}

/* ---- incoming ---- */

static void in_fail(struct rv_mig *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void in_fail(struct rv_mig *g, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(g->error, sizeof(g->error), fmt, ap);
    va_end(ap);
    chan_close(g, true);
    bufs_free(g);
    g->t_end = loop_now_ns();
    set_status(g, RV_MIG_FAILED);
}

static void in_expect(struct rv_mig *g, enum rd_stage st, uint8_t *dst,
                      size_t want)
{
    g->stage = st;
    g->dst = dst;
    g->want = want;
    g->got = 0;
}

static int in_header(struct rv_mig *g)
{
    const uint8_t *h = g->hdr;
    struct err e = {0, ""};
    uint64_t ram_size = rv_machine_ram_size(g->m);
    uint32_t hlen;

    if (rd_le32(h) != MIG_MAGIC) {
        in_fail(g, "not an rrvm migration stream (bad magic)");
        return -1;
    }
    hlen = rd_le32(h + 8);
    if (rd_le32(h + 60) != hash_crc32c(0, h, 60) || hlen < MIG_HDR_LEN ||
        hlen > MIG_HDR_MAX_LEN) {
        in_fail(g, "the migration stream header is corrupt (checksum)");
        return -1;
    }
    if (rd_le32(h + 4) != MIG_VERSION ||
        (rd_le32(h + 12) & ~MIG_INCOMPAT_KNOWN)) {
        in_fail(g,
                "migration stream version %" PRIu32 ", features 0x%" PRIx32
                " not supported by this rrvm",
                rd_le32(h + 4), rd_le32(h + 12));
        return -1;
    }
    if (rd_le32(h + 24) != PAGE) {
        in_fail(g, "migration stream page size %" PRIu32 " not supported",
                rd_le32(h + 24));
        return -1;
    }
    if (rd_le64(h + 32) != ram_size) {
        in_fail(g,
                "vmstate is from another machine: %" PRIu64
                " MiB of RAM, this one has %" PRIu64 " MiB",
                rd_le64(h + 32) >> 20, ram_size >> 20);
        return -1;
    }
    if (rd_le64(h + 40) == 0 || rd_le64(h + 40) > RV_SNAP_BLOB_MAX) {
        in_fail(g, "the migration stream header is corrupt (blob length)");
        return -1;
    }
    (void)e;
    g->lp.vslice_new = rd_le32(h + 28) & MIG_FLAG_VSLICE_NEW;
    g->src_running = rd_le32(h + 28) & MIG_FLAG_RUNNING;
    g->lp.vslice_end = rd_le64(h + 48);
    g->blob_len = (size_t)rd_le64(h + 40);
    g->blob = mem_alloc(g->blob_len);
    if (!g->blob) {
        in_fail(g, "out of memory");
        return -1;
    }
    g->extra = hlen - MIG_HDR_LEN;
    if (g->extra) {
        in_expect(g, RD_HDR_EXTRA, g->rec, g->extra < 16 ? g->extra : 16);
    } else {
        in_expect(g, RD_BLOB, g->blob, g->blob_len);
    }
    return 0;
}

/* The blob matches this machine: clear RAM for the pages to come. */
static int in_blob(struct rv_mig *g)
{
    const struct rv_ram *ram = rv_machine_ram(g->m);
    struct err e = {0, ""};

    if (rv_machine_vmstate_check(g->m, g->blob, g->blob_len, &e) < 0) {
        in_fail(g, "%s", e.msg);
        return -1;
    }
    for (uint64_t p = 0; p < ram->size / PAGE; p++) {
        if (!rv_page_is_zero(ram->host + p * PAGE)) {
            memset(ram->host + p * PAGE, 0, PAGE);
        }
    }
    in_expect(g, RD_REC, g->rec, REC_HDR_LEN);
    return 0;
}

static int in_record(struct rv_mig *g)
{
    const struct rv_ram *ram = rv_machine_ram(g->m);
    uint32_t type = rd_le32(g->rec), n = rd_le32(g->rec + 4);
    uint64_t first = rd_le64(g->rec + 8);

    if (type == REC_END) {
        in_expect(g, RD_END, g->rec + REC_HDR_LEN, END_TAIL_LEN);
        return 0;
    }
    if (type != REC_PAGES) {
        in_fail(g, "the migration stream is corrupt (record type %" PRIu32 ")",
                type);
        return -1;
    }
    if (n == 0 || n > MIG_RUN_PAGES || first > ram->size / PAGE ||
        n > ram->size / PAGE - first) {
        in_fail(g,
                "the migration stream is corrupt (%" PRIu32
                " pages at page %" PRIu64 ")",
                n, first);
        return -1;
    }
    g->pages_read += n;
    in_expect(g, RD_PAGES, ram->host + first * PAGE, (size_t)n * PAGE);
    return 0;
}

static void in_complete(struct rv_mig *g)
{
    const uint8_t *t = g->rec + REC_HDR_LEN;
    uint8_t hash[RV_STATE_HASH_LEN];
    struct err e = {0, ""};

    if (rd_le32(t + RV_STATE_HASH_LEN) != g->crc) {
        in_fail(g, "the migration stream is corrupt (checksum)");
        return;
    }
    if (rd_le64(g->rec + 8) != g->pages_read) {
        in_fail(g, "the migration stream is corrupt (page count)");
        return;
    }
    /* The source released its disks before it sent the end record. */
    if (rv_machine_blk_set_inactive(g->m, false, &e) < 0) {
        in_fail(g, "%s", e.msg);
        return;
    }
    if (rv_machine_vmstate_load(g->m, g->blob, g->blob_len, &e) < 0) {
        in_fail(g, "%s", e.msg);
        return;
    }
    rv_machine_loaded(g->m, &g->lp);
    if (rv_machine_state_hash(g->m, hash) < 0 ||
        memcmp(hash, t, RV_STATE_HASH_LEN)) {
        rv_machine_set_runstate(g->m, RV_RUN_INTERNAL_ERROR);
        in_fail(g, "the loaded state differs from the source's (state hash)");
        return;
    }
    chan_close(g, false);
    bufs_free(g);
    g->t_end = loop_now_ns();
    g->stage = RD_DONE;
    /* QEMU 7.2's process_incoming_migration_bh(): RESUME, then
     * completed; paused under -S or when the source was not running. */
    rv_machine_set_runstate(g->m, RV_RUN_PAUSED);
    if (g->autostart && g->src_running) {
        rv_machine_cont(g->m, NULL);
    }
    set_status(g, RV_MIG_COMPLETED);
}

/* The current read is complete: act on it. Returns < 0 once failed. */
static int in_step(struct rv_mig *g)
{
    switch (g->stage) {
    case RD_HDR:
        return in_header(g);
    case RD_HDR_EXTRA:
        g->extra -= g->got;
        if (g->extra) {
            in_expect(g, RD_HDR_EXTRA, g->rec, g->extra < 16 ? g->extra : 16);
        } else {
            in_expect(g, RD_BLOB, g->blob, g->blob_len);
        }
        return 0;
    case RD_BLOB:
        return in_blob(g);
    case RD_REC:
        return in_record(g);
    case RD_PAGES:
        in_expect(g, RD_REC, g->rec, REC_HDR_LEN);
        return 0;
    case RD_END:
        in_complete(g);
        return -1;
    case RD_DONE:
        break;
    }
    return -1;
}

static void in_readable(void *opaque, int fd, unsigned events)
{
    struct rv_mig *g = opaque;

    (void)events;
    /* Bounded per call so the monitor and timers get their turn. */
    for (int i = 0; i < 64; i++) {
        ssize_t n = read(fd, g->dst + g->got, g->want - g->got);
        bool crc_now = !(g->stage == RD_END);

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return;
            }
            in_fail(g, "read: %s", strerror(errno));
            return;
        }
        if (n == 0) {
            in_fail(g,
                    "the migration stream is truncated (end of stream after "
                    "%" PRIu64 " bytes)",
                    g->transferred);
            return;
        }
        if (crc_now) {
            g->crc = hash_crc32c(g->crc, g->dst + g->got, (size_t)n);
        }
        g->got += (size_t)n;
        g->transferred += (uint64_t)n;
        if (g->got < g->want) {
            continue;
        }
        if (g->stage == RD_END) {
            /* The END record's own header and hash are covered too. */
            g->crc = hash_crc32c(g->crc, g->dst, RV_STATE_HASH_LEN);
        }
        if (in_step(g) < 0) {
            return;
        }
    }
}

static void in_connected(struct rv_mig *g)
{
    g->t_active = loop_now_ns();
    set_status(g, RV_MIG_ACTIVE);
    in_expect(g, RD_HDR, g->hdr, MIG_HDR_LEN);
    g->crc = 0;
    g->pages_read = 0;
    loop_fd_set(g->loop, g->fd, LOOP_READ, in_readable, g, NULL);
}

static void in_accept(void *opaque, int fd, unsigned events)
{
    struct rv_mig *g = opaque;
    int c = accept(fd, NULL, NULL);

    (void)events;
    if (c < 0) {
        return;
    }
    set_nonblock(c);
    loop_fd_del(g->loop, fd);
    close(fd);
    g->listen_fd = -1;
    if (g->unix_path[0]) {
        unlink(g->unix_path);
        g->unix_path[0] = 0;
    }
    g->fd = c;
    set_status(g, RV_MIG_SETUP);
    in_connected(g);
}

static void in_start_timer(void *opaque)
{
    struct rv_mig *g = opaque;

    g->timer = 0;
    in_connected(g);
}

int rv_mig_incoming(struct rv_mig *g, const char *uri, bool autostart,
                    struct err *err)
{
    int ret;

    if (g->status != RV_MIG_NONE || g->listen_fd >= 0) {
        return err_set(err, -EBUSY,
                       "The incoming migration has already been started");
    }
    reset_stats(g, true);
    g->autostart = autostart;
    ret = chan_open(g, uri, false, err);
    if (ret < 0) {
        return ret;
    }
    /* QEMU 7.2 stays in status none until a listener accepts. */
    if (g->listen_fd < 0) {
        set_status(g, RV_MIG_SETUP);
    }
    if (g->listen_fd >= 0) {
        ret = loop_fd_set(g->loop, g->listen_fd, LOOP_READ, in_accept, g, err);
    } else {
        int64_t id = loop_timer_add(g->loop, 0, in_start_timer, g);

        ret = id < 0 ? err_set(err, (int)id, "no timer") : 0;
        g->timer = id > 0 ? id : 0;
    }
    if (ret < 0) {
        chan_close(g, true);
        g->status = RV_MIG_NONE;
    }
    return ret;
}

void rv_mig_set_autostart(struct rv_mig *g, bool autostart)
{
    g->autostart = autostart;
}

void rv_mig_info(const struct rv_mig *g, struct rv_mig_info *out)
{
    uint64_t now = g->t_end ? g->t_end : loop_now_ns();
    const struct rv_ram *ram = rv_machine_ram(g->m);
    uint64_t total_ns = now - g->t_start;

    memset(out, 0, sizeof(*out));
    out->status = g->status;
    out->incoming = g->incoming;
    out->listening = g->listen_fd >= 0;
    out->setup_ms = g->t_active ? (g->t_active - g->t_start) / 1000000 : 0;
    out->total_ms = total_ns / 1000000;
    out->downtime_ms =
        g->t_stop && g->t_end ? (g->t_end - g->t_stop) / 1000000 : 0;
    out->ram_total = ram->size;
    out->transferred = g->transferred;
    out->remaining = g->incoming || g->status == RV_MIG_COMPLETED
                         ? 0
                         : (ram->size / PAGE - g->next_page) * PAGE;
    out->duplicate = g->duplicate;
    out->normal = g->normal;
    out->passes = g->passes;
    out->mbps =
        total_ns ? (double)g->transferred * 8.0 * 1000.0 / (double)total_ns : 0;
    snprintf(out->error, sizeof(out->error), "%s", g->error);
}
