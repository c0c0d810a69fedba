/* SPDX-License-Identifier: MIT */
/*
 * emulator/loader.c - put firmware, kernels, initrds and device trees into
 * guest memory the way QEMU 7.2's hw/riscv/boot.c does: ELF64 at its
 * physical addresses, anything else raw; the reset ROM with
 * fw_dynamic_info; the FDT below min(end of RAM, 3 GiB).
 */
#include "emulator/rv-int.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/bytes.h"

#define ELF_HDR_LEN  64
#define ELF_PHDR_LEN 56
#define ELF_PT_LOAD  1
#define ELF_EM_RISCV 243
/* Program headers accepted: real kernels and firmware have under 16. */
#define ELF_MAX_PHDRS 64
/* QEMU places the FDT below this absolute address (riscv_load_fdt). */
#define FDT_LIMIT 0xc0000000ull
#define FDT_ALIGN (2ull << 20)

#define FW_DYNAMIC_MAGIC   0x4942534full /* "OSBI" */
#define FW_DYNAMIC_VERSION 2
#define FW_DYNAMIC_MODE_S  1
#define RESET_INFO_OFF     0x28

int rv_load_read_file(const char *path, size_t max, uint8_t **out, size_t *len,
                      struct err *err)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t done = 0;
    ssize_t n;
    int fd, ret = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) < 0) {
        ret = err_set(err, -errno, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        ret = err_set(err, -EINVAL, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        ret = err_set(err, -ERANGE, "%s: %lld bytes exceeds limit %zu", path,
                      (long long)st.st_size, max);
        goto out;
    }
    buf = mem_alloc(st.st_size ? (size_t)st.st_size : 1);
    if (!buf) {
        ret = err_set(err, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    while (done < (size_t)st.st_size) {
        n = read(fd, buf + done, (size_t)st.st_size - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            ret = err_set(err, -EIO, "%s: short read", path);
            goto out;
        }
        done += (size_t)n;
    }
    *out = buf;
    *len = done;
    buf = NULL;
out:
    mem_free(buf);
    close(fd);
    return ret;
}

static bool in_ram(const struct rv_ram *ram, uint64_t addr, uint64_t len)
{
    return addr >= ram->base && addr - ram->base <= ram->size &&
           len <= ram->size - (addr - ram->base);
}

static bool is_elf(const uint8_t *b, size_t len)
{
    return len >= ELF_HDR_LEN && b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' &&
           b[3] == 'F';
}

static int load_elf(const struct rv_ram *ram, const char *path,
                    const uint8_t *b, size_t len, uint64_t *entry, uint64_t *lo,
                    uint64_t *end, struct err *err)
{
    uint64_t low = UINT64_MAX;
    uint64_t phoff = rd_le64(b + 32);
    uint16_t phentsize = rd_le16(b + 54);
    uint16_t phnum = rd_le16(b + 56);
    uint64_t hi = 0;
    bool any = false;

    if (b[4] != 2 || b[5] != 1) {
        return err_set(err, -EBADMSG, "%s: not a little-endian ELF64 file",
                       path);
    }
    if (rd_le16(b + 18) != ELF_EM_RISCV) {
        return err_set(err, -EBADMSG, "%s: not a RISC-V ELF file", path);
    }
    if (phentsize != ELF_PHDR_LEN || phnum > ELF_MAX_PHDRS || phoff > len ||
        (uint64_t)phnum * ELF_PHDR_LEN > len - phoff) {
        return err_set(err, -EBADMSG, "%s: bad ELF program headers", path);
    }
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = b + phoff + (uint64_t)i * ELF_PHDR_LEN;
        uint64_t off = rd_le64(ph + 8);
        uint64_t paddr = rd_le64(ph + 24);
        uint64_t filesz = rd_le64(ph + 32);
        uint64_t memsz = rd_le64(ph + 40);
        uint8_t *dst;

        if (rd_le32(ph) != ELF_PT_LOAD || memsz == 0) {
            continue;
        }
        if (filesz > memsz || off > len || filesz > len - off) {
            return err_set(err, -EBADMSG, "%s: segment %u out of the file",
                           path, i);
        }
        /* Like QEMU, keep the part of a segment that lands in RAM (the
         * ELF headers often sit in a segment just below it). */
        if (paddr + memsz <= ram->base || paddr >= ram->base + ram->size ||
            paddr + memsz < paddr) {
            return err_set(
                err, -ERANGE, "%s: segment %u at 0x%llx+0x%llx is outside RAM",
                path, i, (unsigned long long)paddr, (unsigned long long)memsz);
        }
        if (paddr < ram->base) {
            uint64_t cut = ram->base - paddr;

            off += cut;
            filesz = filesz > cut ? filesz - cut : 0;
            memsz -= cut;
            paddr = ram->base;
        }
        if (memsz > ram->size - (paddr - ram->base)) {
            memsz = ram->size - (paddr - ram->base);
            if (filesz > memsz) {
                filesz = memsz;
            }
        }
        dst = ram->host + (paddr - ram->base);
        memcpy(dst, b + off, filesz);
        memset(dst + filesz, 0, memsz - filesz);
        if (paddr < low) {
            low = paddr;
        }
        if (paddr + memsz > hi) {
            hi = paddr + memsz;
        }
        any = true;
    }
    if (!any) {
        return err_set(err, -EBADMSG, "%s: no loadable segment", path);
    }
    *entry = rd_le64(b + 24);
    *lo = low;
    *end = hi;
    return 0;
}

int rv_load_file(const struct rv_ram *ram, const char *path, bool allow_elf,
                 uint64_t raw_addr, uint64_t *entry, uint64_t *lo,
                 uint64_t *end, struct err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int ret;

    CHECK_ARG(ram && path && entry && lo && end);
    ret = rv_load_read_file(path, (size_t)ram->size, &buf, &len, err);
    if (ret < 0) {
        return ret;
    }
    if (allow_elf && is_elf(buf, len)) {
        ret = load_elf(ram, path, buf, len, entry, lo, end, err);
        goto out;
    }
    if (!in_ram(ram, raw_addr, len)) {
        ret = err_set(err, -ERANGE, "%s: %zu bytes at 0x%llx do not fit in RAM",
                      path, len, (unsigned long long)raw_addr);
        goto out;
    }
    memcpy(ram->host + (raw_addr - ram->base), buf, len);
    *entry = raw_addr;
    *lo = raw_addr;
    *end = raw_addr + len;
out:
    mem_free(buf);
    return ret;
}

void rv_load_reset_vector(uint8_t *rom, size_t rom_len, uint64_t start,
                          uint64_t fdt_addr, uint64_t kernel_entry)
{
    static const uint32_t code[6] = {
        0x00000297, /* auipc t0, 0 */
        0x02828613, /* addi  a2, t0, 40 : &fw_dynamic_info */
        0xf1402573, /* csrr  a0, mhartid */
        0x0202b583, /* ld    a1, 32(t0) : FDT */
        0x0182b283, /* ld    t0, 24(t0) : start */
        0x00028067, /* jr    t0 */
    };
    uint8_t *p = rom;

    if (rom_len < RESET_INFO_OFF + 48) {
        return;
    }
    memset(rom, 0, rom_len);
    for (unsigned i = 0; i < 6; i++) {
        wr_le32(p + 4 * i, code[i]);
    }
    wr_le64(p + 24, start);
    wr_le64(p + 32, fdt_addr);
    p = rom + RESET_INFO_OFF;
    wr_le64(p, FW_DYNAMIC_MAGIC);
    wr_le64(p + 8, FW_DYNAMIC_VERSION);
    wr_le64(p + 16, kernel_entry);
    wr_le64(p + 24, FW_DYNAMIC_MODE_S);
    wr_le64(p + 32, 0);
    wr_le64(p + 40, 0);
}

uint64_t rv_load_fdt_addr(uint64_t ram_size, uint64_t fdt_size)
{
    uint64_t end = RV_RAM_BASE + ram_size;

    if (end > FDT_LIMIT) {
        end = FDT_LIMIT;
    }
    return (end - fdt_size) & ~(FDT_ALIGN - 1);
}
