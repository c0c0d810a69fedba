/* SPDX-License-Identifier: MIT */
/*
 * tests/durability/iotrace.c - an LD_PRELOAD shim that logs, at the C
 * library boundary, every successful change a process makes to the files
 * named in RRVM_IOTRACE_FILES (':'-separated absolute paths) and every sync
 * of them, to RRVM_IOTRACE_LOG, for tests/integration/test_durability.py.
 *
 * A record is 40 bytes, little-endian: kind (u8), 3 zero bytes, the file's
 * index in RRVM_IOTRACE_FILES (u32), a, b, c (u64), the length of the data
 * that follows (u32), 4 zero bytes. Kinds:
 *   'O' open      a = flags (O_CREAT and O_TRUNC matter)
 *   'W' write     a = offset, data = the bytes written
 *   'T' truncate  a = new length
 *   'A' fallocate a = mode (posix_fallocate is 0), b = offset, c = length
 *   'S' sync      a = 0 fsync, 1 fdatasync, 2 sync/syncfs; b = number of
 *                 records logged when the call began (the ones it covers)
 *   'N' sync_file_range (durable nothing: no metadata, no cache flush)
 *   'U' unlink or renamed away, 'R' renamed onto (a = index of the source,
 *       or UINT32_MAX when the source is not traced)
 *   'E' an unsupported way of writing a traced file was used; data = name
 * Records are appended under one mutex after the call returns, in order of
 * completion; a sync's b says which earlier completions it is sure to cover.
 */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* File descriptors above this are not followed: a test opens a handful. */
#define IOT_MAX_FD 4096
/* Traced paths per run: an image and its backing chain. */
#define IOT_MAX_FILES 8
#define IOT_REC_LEN   40

#define NO_FILE UINT32_MAX

static pthread_mutex_t iot_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t iot_once = PTHREAD_ONCE_INIT;
static int iot_log_fd = -1;
static uint64_t iot_nb_records;
static char iot_files[IOT_MAX_FILES][PATH_MAX];
static unsigned iot_nb_files;
static int16_t iot_fd_file[IOT_MAX_FD]; /* file index + 1; 0 if untraced */

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev2)(int, const struct iovec *, int, off_t, int);
static int (*real_ftruncate)(int, off_t);
static int (*real_truncate)(const char *, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_posix_fallocate)(int, off_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_sync_file_range)(int, off_t, off_t, unsigned);
static int (*real_syncfs)(int);
static void (*real_sync)(void);
static ssize_t (*real_copy_file_range)(int, off_t *, int, off_t *, size_t,
                                       unsigned);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);

static void *next_sym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);

    if (!p) {
        fprintf(stderr, "iotrace: no %s in the next library\n", name);
        abort();
    }
    return p;
}

static void iot_init(void)
{
    const char *files = getenv("RRVM_IOTRACE_FILES");
    const char *log = getenv("RRVM_IOTRACE_LOG");

    *(void **)&real_open = next_sym("open");
    *(void **)&real_openat = next_sym("openat");
    *(void **)&real_close = next_sym("close");
    *(void **)&real_dup = next_sym("dup");
    *(void **)&real_dup2 = next_sym("dup2");
    *(void **)&real_dup3 = next_sym("dup3");
    *(void **)&real_write = next_sym("write");
    *(void **)&real_writev = next_sym("writev");
    *(void **)&real_pwrite = next_sym("pwrite64");
    *(void **)&real_pwritev = next_sym("pwritev64");
    *(void **)&real_pwritev2 = next_sym("pwritev64v2");
    *(void **)&real_ftruncate = next_sym("ftruncate64");
    *(void **)&real_truncate = next_sym("truncate64");
    *(void **)&real_fallocate = next_sym("fallocate64");
    *(void **)&real_posix_fallocate = next_sym("posix_fallocate64");
    *(void **)&real_fsync = next_sym("fsync");
    *(void **)&real_fdatasync = next_sym("fdatasync");
    *(void **)&real_sync_file_range = next_sym("sync_file_range");
    *(void **)&real_syncfs = next_sym("syncfs");
    *(void **)&real_sync = next_sym("sync");
    *(void **)&real_copy_file_range = next_sym("copy_file_range");
    *(void **)&real_mmap = next_sym("mmap64");
    *(void **)&real_unlink = next_sym("unlink");
    *(void **)&real_unlinkat = next_sym("unlinkat");
    *(void **)&real_rename = next_sym("rename");
    *(void **)&real_renameat = next_sym("renameat");

    if (!files || !log) {
        return;
    }
    while (*files && iot_nb_files < IOT_MAX_FILES) {
        size_t n = strcspn(files, ":");

        if (n && n < PATH_MAX) {
            memcpy(iot_files[iot_nb_files], files, n);
            iot_files[iot_nb_files][n] = 0;
            iot_nb_files++;
        }
        files += n;
        files += *files == ':';
    }
    iot_log_fd =
        real_open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (iot_log_fd < 0) {
        fprintf(stderr, "iotrace: cannot open %s\n", log);
        abort();
    }
}

static void iot_ready(void)
{
    pthread_once(&iot_once, iot_init);
}

static void put_le(uint8_t *dst, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        dst[i] = (uint8_t)(v >> (8 * i));
    }
}

static void log_all(const void *src, size_t len)
{
    const uint8_t *p = src;

    while (len) {
        ssize_t n = real_write(iot_log_fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fprintf(stderr, "iotrace: log write failed\n");
            abort();
        }
        p += n;
        len -= (size_t)n;
    }
}

/* Append one record with the data of @iov (up to @len bytes); the caller
 * holds iot_lock. */
static void emit_locked(char kind, uint32_t file, uint64_t a, uint64_t b,
                        uint64_t c, const struct iovec *iov, int iovcnt,
                        size_t len)
{
    uint8_t hdr[IOT_REC_LEN] = {0};

    hdr[0] = (uint8_t)kind;
    put_le(hdr + 4, file, 4);
    put_le(hdr + 8, a, 8);
    put_le(hdr + 16, b, 8);
    put_le(hdr + 24, c, 8);
    put_le(hdr + 32, len, 4);
    log_all(hdr, sizeof(hdr));
    for (int i = 0; i < iovcnt && len; i++) {
        size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;

        log_all(iov[i].iov_base, n);
        len -= n;
    }
    iot_nb_records++;
}

static void emit(char kind, uint32_t file, uint64_t a, uint64_t b, uint64_t c,
                 const struct iovec *iov, int iovcnt, size_t len)
{
    int e = errno;

    pthread_mutex_lock(&iot_lock);
    emit_locked(kind, file, a, b, c, iov, iovcnt, len);
    pthread_mutex_unlock(&iot_lock);
    errno = e;
}

static void emit_str(char kind, uint32_t file, uint64_t a, const char *s)
{
    struct iovec v = {(void *)s, strlen(s)};

    emit(kind, file, a, 0, 0, &v, 1, v.iov_len);
}

static uint32_t fd_file(int fd)
{
    if (iot_log_fd < 0 || fd < 0 || fd >= IOT_MAX_FD || !iot_fd_file[fd]) {
        return NO_FILE;
    }
    return (uint32_t)iot_fd_file[fd] - 1;
}

static uint64_t records_now(void)
{
    uint64_t n;

    pthread_mutex_lock(&iot_lock);
    n = iot_nb_records;
    pthread_mutex_unlock(&iot_lock);
    return n;
}

/* The traced index of @path (relative to @dirfd), or NO_FILE. @path must
 * exist unless @parent_only, which resolves only its directory. */
static uint32_t path_file(int dirfd, const char *path, int parent_only)
{
    char abs[PATH_MAX * 2];
    char dir[PATH_MAX];
    char res[PATH_MAX];
    const char *base = NULL;

    if (iot_log_fd < 0 || !path) {
        return NO_FILE;
    }
    if (path[0] == '/') {
        snprintf(abs, sizeof(abs), "%s", path);
    } else if (dirfd == AT_FDCWD) {
        if (!getcwd(dir, sizeof(dir))) {
            return NO_FILE;
        }
        snprintf(abs, sizeof(abs), "%s/%s", dir, path);
    } else {
        char link[64];
        ssize_t n;

        snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
        n = readlink(link, dir, sizeof(dir) - 1);
        if (n < 0) {
            return NO_FILE;
        }
        dir[n] = 0;
        snprintf(abs, sizeof(abs), "%s/%s", dir, path);
    }
    if (parent_only) {
        char *slash = strrchr(abs, '/');

        *slash = 0;
        base = slash + 1;
        if (!realpath(abs[0] ? abs : "/", res)) {
            return NO_FILE;
        }
        snprintf(dir, sizeof(dir), "%s", base);
        snprintf(abs, sizeof(abs), "%s/%s", res, dir);
    } else if (realpath(abs, res)) {
        snprintf(abs, sizeof(abs), "%s", res);
    } else {
        return NO_FILE;
    }
    for (uint32_t i = 0; i < iot_nb_files; i++) {
        if (!strcmp(abs, iot_files[i])) {
            return i;
        }
    }
    return NO_FILE;
}

static void fd_set_file(int fd, uint32_t file)
{
    if (fd < 0) {
        return;
    }
    if (fd >= IOT_MAX_FD) {
        if (file != NO_FILE) {
            emit_str('E', file, 0, "fd over IOT_MAX_FD");
        }
        return;
    }
    iot_fd_file[fd] = file == NO_FILE ? 0 : (int16_t)(file + 1);
}

static int opened(int dirfd, const char *path, int flags, int fd)
{
    uint32_t f;

    if (fd < 0 || iot_log_fd < 0) {
        return fd;
    }
    f = path_file(dirfd, path, 0);
    fd_set_file(fd, f);
    if (f != NO_FILE) {
        emit('O', f, (uint64_t)(unsigned)flags, 0, 0, NULL, 0, 0);
    }
    return fd;
}

static mode_t open_mode(int flags, va_list ap)
{
    if (flags & (O_CREAT | __O_TMPFILE)) {
        return (mode_t)va_arg(ap, int);
    }
    return 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    mode_t mode;

    iot_ready();
    va_start(ap, flags);
    mode = open_mode(flags, ap);
    va_end(ap);
    return opened(AT_FDCWD, path, flags, real_open(path, flags, mode));
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    mode_t mode;

    iot_ready();
    va_start(ap, flags);
    mode = open_mode(flags, ap);
    va_end(ap);
    return opened(AT_FDCWD, path, flags, real_open(path, flags, mode));
}

int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    mode_t mode;

    iot_ready();
    va_start(ap, flags);
    mode = open_mode(flags, ap);
    va_end(ap);
    return opened(dirfd, path, flags, real_openat(dirfd, path, flags, mode));
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    mode_t mode;

    iot_ready();
    va_start(ap, flags);
    mode = open_mode(flags, ap);
    va_end(ap);
    return opened(dirfd, path, flags, real_openat(dirfd, path, flags, mode));
}

int creat(const char *path, mode_t mode)
{
    return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
    return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int close(int fd)
{
    uint32_t f;
    int ret;

    iot_ready();
    f = fd_file(fd);
    ret = real_close(fd);
    if (f != NO_FILE) {
        fd_set_file(fd, NO_FILE);
    }
    return ret;
}

int dup(int fd)
{
    int ret;

    iot_ready();
    ret = real_dup(fd);
    if (ret >= 0) {
        fd_set_file(ret, fd_file(fd));
    }
    return ret;
}

int dup2(int fd, int fd2)
{
    int ret;

    iot_ready();
    ret = real_dup2(fd, fd2);
    if (ret >= 0) {
        fd_set_file(ret, fd_file(fd));
    }
    return ret;
}

int dup3(int fd, int fd2, int flags)
{
    int ret;

    iot_ready();
    ret = real_dup3(fd, fd2, flags);
    if (ret >= 0) {
        fd_set_file(ret, fd_file(fd));
    }
    return ret;
}

static void wrote(uint32_t f, uint64_t off, const struct iovec *iov, int iovcnt,
                  ssize_t n)
{
    if (f != NO_FILE && n > 0) {
        emit('W', f, off, 0, 0, iov, iovcnt, (size_t)n);
    }
}

/* write() and writev() move the file offset: where the data went. */
static uint64_t written_at(int fd, ssize_t n)
{
    off_t end = lseek(fd, 0, SEEK_CUR);

    return end < 0 ? 0 : (uint64_t)end - (uint64_t)n;
}

ssize_t write(int fd, const void *buf, size_t len)
{
    struct iovec v = {(void *)buf, len};
    uint32_t f;
    ssize_t n;

    iot_ready();
    f = fd_file(fd);
    n = real_write(fd, buf, len);
    if (f != NO_FILE && n > 0) {
        wrote(f, written_at(fd, n), &v, 1, n);
    }
    return n;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    uint32_t f;
    ssize_t n;

    iot_ready();
    f = fd_file(fd);
    n = real_writev(fd, iov, iovcnt);
    if (f != NO_FILE && n > 0) {
        wrote(f, written_at(fd, n), iov, iovcnt, n);
    }
    return n;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    struct iovec v = {(void *)buf, len};
    ssize_t n;

    iot_ready();
    n = real_pwrite(fd, buf, len, off);
    wrote(fd_file(fd), (uint64_t)off, &v, 1, n);
    return n;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
    return pwrite(fd, buf, len, (off_t)off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    ssize_t n;

    iot_ready();
    n = real_pwritev(fd, iov, iovcnt, off);
    wrote(fd_file(fd), (uint64_t)off, iov, iovcnt, n);
    return n;
}

ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off64_t off)
{
    return pwritev(fd, iov, iovcnt, (off_t)off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off,
                 int flags)
{
    uint32_t f;
    ssize_t n;

    iot_ready();
    f = fd_file(fd);
    n = real_pwritev2(fd, iov, iovcnt, off, flags);
    if (f != NO_FILE && n > 0) {
        /* RWF_DSYNC/RWF_SYNC would need a sync record; nothing uses them,
         * and without one the write is taken as not durable. */
        wrote(f, off == -1 ? written_at(fd, n) : (uint64_t)off, iov, iovcnt, n);
    }
    return n;
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int iovcnt, off64_t off,
                    int flags)
{
    return pwritev2(fd, iov, iovcnt, (off_t)off, flags);
}

int ftruncate(int fd, off_t len)
{
    int ret;

    iot_ready();
    ret = real_ftruncate(fd, len);
    if (ret == 0 && fd_file(fd) != NO_FILE) {
        emit('T', fd_file(fd), (uint64_t)len, 0, 0, NULL, 0, 0);
    }
    return ret;
}

int ftruncate64(int fd, off64_t len)
{
    return ftruncate(fd, (off_t)len);
}

int truncate(const char *path, off_t len)
{
    int ret;

    iot_ready();
    ret = real_truncate(path, len);
    if (ret == 0) {
        uint32_t f = path_file(AT_FDCWD, path, 0);

        if (f != NO_FILE) {
            emit('T', f, (uint64_t)len, 0, 0, NULL, 0, 0);
        }
    }
    return ret;
}

int truncate64(const char *path, off64_t len)
{
    return truncate(path, (off_t)len);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    int ret;

    iot_ready();
    ret = real_fallocate(fd, mode, off, len);
    if (ret == 0 && fd_file(fd) != NO_FILE) {
        emit('A', fd_file(fd), (uint64_t)(unsigned)mode, (uint64_t)off,
             (uint64_t)len, NULL, 0, 0);
    }
    return ret;
}

int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
    return fallocate(fd, mode, (off_t)off, (off_t)len);
}

int posix_fallocate(int fd, off_t off, off_t len)
{
    int ret;

    iot_ready();
    ret = real_posix_fallocate(fd, off, len);
    if (ret == 0 && fd_file(fd) != NO_FILE) {
        emit('A', fd_file(fd), 0, (uint64_t)off, (uint64_t)len, NULL, 0, 0);
    }
    return ret;
}

int posix_fallocate64(int fd, off64_t off, off64_t len)
{
    return posix_fallocate(fd, (off_t)off, (off_t)len);
}

static int synced(int fd, int kind, uint64_t started, int ret)
{
    if (ret == 0 && fd_file(fd) != NO_FILE) {
        emit('S', fd_file(fd), (uint64_t)kind, started, 0, NULL, 0, 0);
    }
    return ret;
}

int fsync(int fd)
{
    uint64_t started;

    iot_ready();
    started = records_now();
    return synced(fd, 0, started, real_fsync(fd));
}

int fdatasync(int fd)
{
    uint64_t started;

    iot_ready();
    started = records_now();
    return synced(fd, 1, started, real_fdatasync(fd));
}

int sync_file_range(int fd, off64_t off, off64_t len, unsigned flags)
{
    int ret;

    iot_ready();
    ret = real_sync_file_range(fd, off, len, flags);
    if (ret == 0 && fd_file(fd) != NO_FILE) {
        emit('N', fd_file(fd), (uint64_t)off, (uint64_t)len, flags, NULL, 0, 0);
    }
    return ret;
}

static void synced_all(uint64_t started)
{
    for (uint32_t i = 0; i < iot_nb_files; i++) {
        emit('S', i, 2, started, 0, NULL, 0, 0);
    }
}

int syncfs(int fd)
{
    uint64_t started;
    int ret;

    iot_ready();
    started = records_now();
    ret = real_syncfs(fd);
    if (ret == 0 && iot_log_fd >= 0) {
        synced_all(started);
    }
    return ret;
}

void sync(void)
{
    uint64_t started;

    iot_ready();
    started = records_now();
    real_sync();
    if (iot_log_fd >= 0) {
        synced_all(started);
    }
}

ssize_t copy_file_range(int in, off64_t *in_off, int out, off64_t *out_off,
                        size_t len, unsigned flags)
{
    iot_ready();
    if (fd_file(out) != NO_FILE) {
        emit_str('E', fd_file(out), 0, "copy_file_range");
    }
    return real_copy_file_range(in, in_off, out, out_off, len, flags);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    iot_ready();
    if ((prot & PROT_WRITE) && (flags & MAP_SHARED) && fd_file(fd) != NO_FILE) {
        emit_str('E', fd_file(fd), 0, "shared writable mmap");
    }
    return real_mmap(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    return mmap(addr, len, prot, flags, fd, (off_t)off);
}

int unlink(const char *path)
{
    uint32_t f;
    int ret;

    iot_ready();
    f = path_file(AT_FDCWD, path, 0);
    ret = real_unlink(path);
    if (ret == 0 && f != NO_FILE) {
        emit('U', f, 0, 0, 0, NULL, 0, 0);
    }
    return ret;
}

int unlinkat(int dirfd, const char *path, int flags)
{
    uint32_t f;
    int ret;

    iot_ready();
    f = path_file(dirfd, path, 0);
    ret = real_unlinkat(dirfd, path, flags);
    if (ret == 0 && f != NO_FILE) {
        emit('U', f, 0, 0, 0, NULL, 0, 0);
    }
    return ret;
}

static int renamed(uint32_t from, uint32_t to, int ret)
{
    if (ret == 0 && from != NO_FILE) {
        emit('U', from, 0, 0, 0, NULL, 0, 0);
    }
    if (ret == 0 && to != NO_FILE) {
        emit('R', to, from, 0, 0, NULL, 0, 0);
    }
    return ret;
}

int rename(const char *from, const char *to)
{
    uint32_t a, b;

    iot_ready();
    a = path_file(AT_FDCWD, from, 0);
    b = path_file(AT_FDCWD, to, 1);
    return renamed(a, b, real_rename(from, to));
}

int renameat(int fromfd, const char *from, int tofd, const char *to)
{
    uint32_t a, b;

    iot_ready();
    a = path_file(fromfd, from, 0);
    b = path_file(tofd, to, 1);
    return renamed(a, b, real_renameat(fromfd, from, tofd, to));
}
