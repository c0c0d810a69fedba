/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv-mmu.c - address translation (Sv39, Sv48) with hardware A/D
 * updates as QEMU 7.2 does, PMP checks, and the slow paths of loads, stores
 * and fetches that fill the soft TLB. Misaligned accesses are performed
 * byte by byte, as QEMU 7.2 does them in hardware.
 */
#include "common/bytes.h"
#include "emulator/rv-hart.h"

#define PTE_V (1ULL << 0)
#define PTE_R (1ULL << 1)
#define PTE_W (1ULL << 2)
#define PTE_X (1ULL << 3)
#define PTE_U (1ULL << 4)
#define PTE_A (1ULL << 6)
#define PTE_D (1ULL << 7)
/* Bits 63:54 are reserved (no Svpbmt, no Svnapot). */
#define PTE_RESERVED (0x3ffULL << 54)
#define PTE_PPN_MASK ((1ULL << 44) - 1)

#define PMP_R 1u
#define PMP_W 2u
#define PMP_X 4u
#define PMP_L 0x80u

void rv_tlb_flush(struct rv_cpu *cpu)
{
    for (unsigned c = 0; c < RV_TLB_CTX; c++) {
        for (unsigned t = 0; t < 3; t++) {
            for (unsigned i = 0; i < RV_TLB_SIZE; i++) {
                cpu->tlb[c][t][i].vpage = RV_TLB_INVALID;
            }
        }
    }
    cpu->exec_break = true;
}

uint32_t rv_code_page(const struct rv_cpu *cpu, const uint8_t *host)
{
    for (unsigned i = 0; i < cpu->bus.nb_regions; i++) {
        const struct rv_mem_region *r = &cpu->bus.regions[i];

        if (host >= r->host && (uint64_t)(host - r->host) < r->size) {
            return cpu->region_page[i] + (uint32_t)((host - r->host) >> 12);
        }
    }
    return UINT32_MAX;
}

void rv_code_mark(struct rv_cpu *cpu, uint32_t page, const uint8_t *page_host)
{
    uintptr_t hp = (uintptr_t)page_host;

    cpu->code_mark[page] = 1;
    for (unsigned c = 0; c < RV_TLB_CTX; c++) {
        struct rv_tlb_entry *t = cpu->tlb[c][RV_ACC_WRITE];

        for (unsigned i = 0; i < RV_TLB_SIZE; i++) {
            if (t[i].vpage != RV_TLB_INVALID &&
                (uintptr_t)(t[i].vpage + t[i].addend) == hp) {
                t[i].vpage = RV_TLB_INVALID;
            }
        }
    }
}

/* A store is about to change a page of host memory: it is dirty, blocks
 * built from it are stale, and the running one may be among them. */
void rv_ram_write(struct rv_cpu *cpu, const uint8_t *host)
{
    uint32_t page = rv_code_page(cpu, host);

    if (page == UINT32_MAX) {
        return;
    }
    cpu->dirty[page / 64] |= 1ULL << (page % 64);
    if (cpu->code_mark[page]) {
        cpu->code_mark[page] = 0;
        cpu->code_gen[page]++;
        cpu->exec_break = true;
    }
}

static struct rv_mem_region *region_find(struct rv_cpu *cpu, uint64_t pa,
                                         uint64_t len)
{
    for (unsigned i = 0; i < cpu->bus.nb_regions; i++) {
        struct rv_mem_region *r = &cpu->bus.regions[i];

        if (pa >= r->base && pa - r->base < r->size &&
            len <= r->size - (pa - r->base)) {
            return r;
        }
    }
    return NULL;
}

/*
 * PMP permission for [pa, pa+len) at privilege @priv: true if allowed. If
 * @uniform is not NULL, it is set to whether the decision holds for the
 * whole 4 KiB page containing @pa.
 */
static bool pmp_ok(const struct rv_cpu *cpu, uint64_t pa, uint64_t len,
                   enum rv_access acc, unsigned priv, bool *uniform)
{
    uint64_t end = pa + len - 1;
    uint64_t pg_lo = pa & ~0xfffULL, pg_hi = pg_lo + 0xfff;
    unsigned need = acc == RV_ACC_READ    ? PMP_R
                    : acc == RV_ACC_WRITE ? PMP_W
                                          : PMP_X;

    if (uniform) {
        *uniform = true;
    }
    if (cpu->pmp_nb_on == 0) {
        return true;
    }
    for (unsigned k = 0; k < cpu->pmp_nb_on; k++) {
        unsigned i = cpu->pmp_active[k];
        uint64_t lo = cpu->pmp_lo[i], hi = cpu->pmp_hi[i];
        uint8_t cfg = cpu->pmpcfg[i];

        if (uniform && lo <= pg_hi && hi >= pg_lo &&
            !(lo <= pg_lo && hi >= pg_hi)) {
            *uniform = false;
        }
        if (lo > end || hi < pa) {
            continue;
        }
        if (!(lo <= pa && hi >= end)) {
            return false; /* partial match */
        }
        if (priv == RV_PRV_M && !(cfg & PMP_L)) {
            return true;
        }
        return (cfg & need) != 0;
    }
    return priv == RV_PRV_M;
}

static uint64_t fault_cause(enum rv_access acc, bool page)
{
    if (page) {
        return acc == RV_ACC_READ    ? RV_EXC_LOAD_PAGE
               : acc == RV_ACC_WRITE ? RV_EXC_STORE_PAGE
                                     : RV_EXC_INSN_PAGE;
    }
    return acc == RV_ACC_READ    ? RV_EXC_LOAD_ACCESS
           : acc == RV_ACC_WRITE ? RV_EXC_STORE_ACCESS
                                 : RV_EXC_INSN_ACCESS;
}

static int fault(struct rv_cpu *cpu, enum rv_access acc, bool page, uint64_t va)
{
    cpu->exc_cause = fault_cause(acc, page);
    cpu->exc_tval = va;
    return -1;
}

static unsigned access_priv(const struct rv_cpu *cpu, enum rv_access acc)
{
    if (acc != RV_ACC_FETCH && cpu->priv == RV_PRV_M &&
        (cpu->mstatus & RV_MS_MPRV)) {
        return (unsigned)((cpu->mstatus & RV_MS_MPP) >> 11);
    }
    return cpu->priv;
}

/*
 * Translate @va for @acc. On success *@pa is the physical address and
 * *@cacheable says whether the mapping may enter the TLB (a store through a
 * clean page must take the slow path to set D). Returns 0 or -1 (fault set).
 */
static int translate(struct rv_cpu *cpu, uint64_t va, enum rv_access acc,
                     uint64_t *pa)
{
    unsigned priv = access_priv(cpu, acc);
    unsigned mode = (unsigned)(cpu->satp >> 60);
    unsigned levels, va_bits;
    uint64_t base, pte = 0, pte_addr = 0;
    int level;

    if (priv == RV_PRV_M || mode == 0) {
        *pa = va;
        return 0;
    }
    levels = mode == 8 ? 3 : 4;
    va_bits = 12 + 9 * levels;
    if ((uint64_t)((int64_t)(va << (64 - va_bits)) >> (64 - va_bits)) != va) {
        return fault(cpu, acc, true, va);
    }
    base = (cpu->satp & PTE_PPN_MASK) << 12;
    for (level = (int)levels - 1; level >= 0; level--) {
        unsigned idx = (unsigned)(va >> (12 + 9 * level)) & 0x1ff;
        struct rv_mem_region *r;

        pte_addr = base + 8ULL * idx;
        if (!pmp_ok(cpu, pte_addr, 8, RV_ACC_READ, RV_PRV_S, NULL)) {
            return fault(cpu, acc, false, va);
        }
        r = region_find(cpu, pte_addr, 8);
        if (!r) {
            return fault(cpu, acc, false, va);
        }
        pte = rd_le64(r->host + (pte_addr - r->base));
        if (!(pte & PTE_V) || ((pte & (PTE_R | PTE_W)) == PTE_W) ||
            (pte & PTE_RESERVED)) {
            return fault(cpu, acc, true, va);
        }
        if (pte & (PTE_R | PTE_X)) {
            break;
        }
        base = ((pte >> 10) & PTE_PPN_MASK) << 12;
    }
    if (level < 0) {
        return fault(cpu, acc, true, va);
    }
    /* Leaf permission checks. */
    if (priv == RV_PRV_U && !(pte & PTE_U)) {
        return fault(cpu, acc, true, va);
    }
    if (priv == RV_PRV_S && (pte & PTE_U) &&
        (acc == RV_ACC_FETCH || !(cpu->mstatus & RV_MS_SUM))) {
        return fault(cpu, acc, true, va);
    }
    if (acc == RV_ACC_FETCH && !(pte & PTE_X)) {
        return fault(cpu, acc, true, va);
    }
    if (acc == RV_ACC_READ &&
        !((pte & PTE_R) || ((pte & PTE_X) && (cpu->mstatus & RV_MS_MXR)))) {
        return fault(cpu, acc, true, va);
    }
    if (acc == RV_ACC_WRITE && !(pte & PTE_W)) {
        return fault(cpu, acc, true, va);
    }
    if (level > 0) {
        uint64_t lowmask = (1ULL << (9 * level)) - 1;

        if ((pte >> 10) & lowmask) {
            return fault(cpu, acc, true, va); /* misaligned superpage */
        }
    }
    /* Hardware A/D update. */
    {
        uint64_t npte = pte | PTE_A | (acc == RV_ACC_WRITE ? PTE_D : 0);

        if (npte != pte) {
            struct rv_mem_region *r = region_find(cpu, pte_addr, 8);

            if (!r || r->read_only ||
                !pmp_ok(cpu, pte_addr, 8, RV_ACC_WRITE, RV_PRV_S, NULL)) {
                return fault(cpu, acc, false, va);
            }
            rv_ram_write(cpu, r->host + (pte_addr - r->base));
            wr_le64(r->host + (pte_addr - r->base), npte);
            pte = npte;
        }
    }
    {
        uint64_t ppn = (pte >> 10) & PTE_PPN_MASK;
        uint64_t off_mask = (1ULL << (12 + 9 * level)) - 1;

        *pa = ((ppn << 12) & ~off_mask) | (va & off_mask);
    }
    return 0;
}

/*
 * Translate and check one access that does not cross a page. On success,
 * *@host points at RAM (NULL for MMIO) and *@pa is set; a RAM page with
 * uniform PMP permission is entered in the TLB for @acc.
 */
static int access_prepare(struct rv_cpu *cpu, uint64_t va, unsigned len,
                          enum rv_access acc, uint8_t **host, uint64_t *pa)
{
    unsigned priv = access_priv(cpu, acc);
    struct rv_mem_region *r;
    bool uniform;

    if (translate(cpu, va, acc, pa) < 0) {
        return -1;
    }
    if (!pmp_ok(cpu, *pa, len, acc, priv, &uniform)) {
        return fault(cpu, acc, false, va);
    }
    r = region_find(cpu, *pa, len);
    if (!r) {
        *host = NULL;
        return 0;
    }
    if (acc == RV_ACC_WRITE && r->read_only) {
        return fault(cpu, acc, false, va);
    }
    *host = r->host + (*pa - r->base);
    if (acc == RV_ACC_WRITE) {
        rv_ram_write(cpu, *host);
    }
    if (uniform && region_find(cpu, *pa & ~0xfffULL, 0x1000)) {
        unsigned ctx = acc == RV_ACC_FETCH ? cpu->priv : cpu->dctx;
        struct rv_tlb_entry *e =
            &cpu->tlb[ctx][acc][(va >> 12) & (RV_TLB_SIZE - 1)];

        e->vpage = va & ~0xfffULL;
        e->addend = (uintptr_t)(*host - (*pa & 0xfff)) - e->vpage;
    }
    return 0;
}

static uint64_t host_load(const uint8_t *p, unsigned size_log2)
{
    switch (size_log2) {
    case 0:
        return p[0];
    case 1:
        return rd_le16(p);
    case 2:
        return rd_le32(p);
    default:
        return rd_le64(p);
    }
}

static void host_store(uint8_t *p, unsigned size_log2, uint64_t val)
{
    switch (size_log2) {
    case 0:
        p[0] = (uint8_t)val;
        break;
    case 1:
        wr_le16(p, (uint16_t)val);
        break;
    case 2:
        wr_le32(p, (uint32_t)val);
        break;
    default:
        wr_le64(p, val);
        break;
    }
}

static int load_one(struct rv_cpu *cpu, uint64_t va, unsigned size_log2,
                    uint64_t *val)
{
    uint8_t *host;
    uint64_t pa;

    if (access_prepare(cpu, va, 1u << size_log2, RV_ACC_READ, &host, &pa) < 0) {
        return -1;
    }
    if (host) {
        *val = host_load(host, size_log2);
        return 0;
    }
    cpu->exec_break = true;
    if (!cpu->bus.read || cpu->bus.read(cpu->bus.opaque, pa, size_log2, val)) {
        return fault(cpu, RV_ACC_READ, false, va);
    }
    if (size_log2 < 3) {
        *val &= (1ULL << (8u << size_log2)) - 1;
    }
    return 0;
}

static int store_one(struct rv_cpu *cpu, uint64_t va, unsigned size_log2,
                     uint64_t val)
{
    uint8_t *host;
    uint64_t pa;

    if (access_prepare(cpu, va, 1u << size_log2, RV_ACC_WRITE, &host, &pa) <
        0) {
        return -1;
    }
    if (host) {
        host_store(host, size_log2, val);
        return 0;
    }
    cpu->exec_break = true;
    if (!cpu->bus.write ||
        cpu->bus.write(cpu->bus.opaque, pa, size_log2, val)) {
        return fault(cpu, RV_ACC_WRITE, false, va);
    }
    return 0;
}

int rv_mem_load_slow(struct rv_cpu *cpu, uint64_t va, unsigned size_log2,
                     uint64_t *val)
{
    unsigned len = 1u << size_log2;
    uint64_t v = 0, b;
    uint8_t *host;
    uint64_t pa;

    if (!(va & (len - 1))) {
        return load_one(cpu, va, size_log2, val);
    }
    /* Misaligned: check every page first so a fault leaves no effect. */
    if (access_prepare(cpu, va, 1, RV_ACC_READ, &host, &pa) < 0 ||
        access_prepare(cpu, va + len - 1, 1, RV_ACC_READ, &host, &pa) < 0) {
        cpu->exc_tval = va;
        return -1;
    }
    for (unsigned i = 0; i < len; i++) {
        if (load_one(cpu, va + i, 0, &b) < 0) {
            cpu->exc_tval = va;
            return -1;
        }
        v |= b << (8 * i);
    }
    *val = v;
    return 0;
}

int rv_mem_store_slow(struct rv_cpu *cpu, uint64_t va, unsigned size_log2,
                      uint64_t val)
{
    unsigned len = 1u << size_log2;
    uint8_t *host;
    uint64_t pa;

    if (!(va & (len - 1))) {
        return store_one(cpu, va, size_log2, val);
    }
    if (access_prepare(cpu, va, 1, RV_ACC_WRITE, &host, &pa) < 0 ||
        access_prepare(cpu, va + len - 1, 1, RV_ACC_WRITE, &host, &pa) < 0) {
        cpu->exc_tval = va;
        return -1;
    }
    for (unsigned i = 0; i < len; i++) {
        if (store_one(cpu, va + i, 0, (val >> (8 * i)) & 0xff) < 0) {
            cpu->exc_tval = va;
            return -1;
        }
    }
    return 0;
}

static int fetch16(struct rv_cpu *cpu, uint64_t va, uint32_t *half,
                   uint8_t **host)
{
    uint64_t pa;

    if (access_prepare(cpu, va, 2, RV_ACC_FETCH, host, &pa) < 0) {
        return -1;
    }
    if (!*host) {
        return fault(cpu, RV_ACC_FETCH, false, va);
    }
    *half = rd_le16(*host);
    return 0;
}

int rv_mem_fetch_slow(struct rv_cpu *cpu, uint64_t va, uint32_t *insn,
                      uint64_t *page, const uint8_t **host_page)
{
    struct rv_tlb_entry *e =
        &cpu->tlb[cpu->priv][RV_ACC_FETCH][(va >> 12) & (RV_TLB_SIZE - 1)];
    uint32_t lo, hi;
    uint8_t *host;

    *page = RV_TLB_INVALID;
    if (e->vpage == (va & ~0xfffULL)) {
        /* TLB hit: the page is RAM with uniform PMP permission. */
        const uint8_t *h = (const uint8_t *)(uintptr_t)(e->vpage + e->addend);

        *page = e->vpage;
        *host_page = h;
        lo = rd_le16(h + (va & 0xfff));
        if ((lo & 3) != 3) {
            *insn = lo;
            return 0;
        }
        if ((va & 0xfff) != 0xffe) {
            *insn = lo | ((uint32_t)rd_le16(h + (va & 0xfff) + 2) << 16);
            return 0;
        }
        if (fetch16(cpu, va + 2, &hi, &host) < 0) {
            cpu->exc_tval = va + 2;
            return -1;
        }
        *insn = lo | (hi << 16);
        return 0;
    }
    if (fetch16(cpu, va, &lo, &host) < 0) {
        return -1;
    }
    if ((lo & 3) != 3) {
        *insn = lo;
    } else if ((va & 0xfff) != 0xffe) {
        *insn = lo | ((uint32_t)rd_le16(host + 2) << 16);
    } else {
        uint8_t *host2;

        if (fetch16(cpu, va + 2, &hi, &host2) < 0) {
            cpu->exc_tval = va + 2;
            return -1;
        }
        *insn = lo | (hi << 16);
        return 0;
    }
    if (e->vpage == (va & ~0xfffULL)) {
        *page = e->vpage;
        *host_page = (const uint8_t *)(uintptr_t)(e->vpage + e->addend);
    }
    return 0;
}

int rv_mem_fetch_probe(struct rv_cpu *cpu, uint64_t va, uint16_t *half,
                       uint64_t *pa)
{
    struct rv_tlb_entry *e =
        &cpu->tlb[cpu->priv][RV_ACC_FETCH][(va >> 12) & (RV_TLB_SIZE - 1)];
    const uint8_t *host;

    if (e->vpage == (va & ~0xfffULL)) {
        host = (const uint8_t *)(uintptr_t)(va + e->addend);
        for (unsigned i = 0; i < cpu->bus.nb_regions; i++) {
            const struct rv_mem_region *r = &cpu->bus.regions[i];

            if (host >= r->host && (uint64_t)(host - r->host) < r->size) {
                *pa = r->base + (uint64_t)(host - r->host);
                *half = (uint16_t)rd_le16(host);
                return 0;
            }
        }
    }
    {
        uint8_t *h;

        if (access_prepare(cpu, va, 2, RV_ACC_FETCH, &h, pa) < 0 || !h) {
            return -1;
        }
        *half = (uint16_t)rd_le16(h);
    }
    return 0;
}

int rv_mem_amo_addr(struct rv_cpu *cpu, uint64_t va, unsigned size_log2,
                    uint8_t **host, uint64_t *pa)
{
    unsigned priv = access_priv(cpu, RV_ACC_WRITE);

    if (va & ((1u << size_log2) - 1)) {
        cpu->exc_cause = RV_EXC_STORE_MISALIGNED;
        cpu->exc_tval = va;
        return -1;
    }
    if (translate(cpu, va, RV_ACC_WRITE, pa) < 0) {
        return -1;
    }
    if (!pmp_ok(cpu, *pa, 1u << size_log2, RV_ACC_READ, priv, NULL) ||
        !pmp_ok(cpu, *pa, 1u << size_log2, RV_ACC_WRITE, priv, NULL)) {
        return fault(cpu, RV_ACC_WRITE, false, va);
    }
    {
        struct rv_mem_region *r = region_find(cpu, *pa, 1u << size_log2);

        if (r && r->read_only) {
            return fault(cpu, RV_ACC_WRITE, false, va);
        }
        *host = r ? r->host + (*pa - r->base) : NULL;
    }
    if (*host) {
        rv_ram_write(cpu, *host);
    }
    return 0;
}

/* ---- side-effect-free translation for the monitor ---- */

int rv_cpu_debug_translate(struct rv_cpu *cpu, uint64_t va, uint64_t *pa)
{
    unsigned priv = access_priv(cpu, RV_ACC_READ);
    unsigned mode = (unsigned)(cpu->satp >> 60);
    unsigned levels, va_bits;
    uint64_t base, pte = 0;
    int level;

    if (priv == RV_PRV_M || mode == 0) {
        *pa = va;
        return 0;
    }
    levels = mode == 8 ? 3 : 4;
    va_bits = 12 + 9 * levels;
    if ((uint64_t)((int64_t)(va << (64 - va_bits)) >> (64 - va_bits)) != va) {
        return -EFAULT;
    }
    base = (cpu->satp & PTE_PPN_MASK) << 12;
    for (level = (int)levels - 1; level >= 0; level--) {
        unsigned idx = (unsigned)(va >> (12 + 9 * level)) & 0x1ff;
        uint64_t pte_addr = base + 8ULL * idx;
        struct rv_mem_region *r = region_find(cpu, pte_addr, 8);

        if (!r) {
            return -EFAULT;
        }
        pte = rd_le64(r->host + (pte_addr - r->base));
        if (!(pte & PTE_V) || ((pte & (PTE_R | PTE_W)) == PTE_W) ||
            (pte & PTE_RESERVED)) {
            return -EFAULT;
        }
        if (pte & (PTE_R | PTE_X)) {
            break;
        }
        base = ((pte >> 10) & PTE_PPN_MASK) << 12;
    }
    if (level < 0) {
        return -EFAULT;
    }
    if (!((pte & PTE_R) || ((pte & PTE_X) && (cpu->mstatus & RV_MS_MXR)))) {
        return -EFAULT;
    }
    if (level > 0 && ((pte >> 10) & ((1ULL << (9 * level)) - 1))) {
        return -EFAULT;
    }
    {
        uint64_t ppn = (pte >> 10) & PTE_PPN_MASK;
        uint64_t off_mask = (1ULL << (12 + 9 * level)) - 1;

        *pa = ((ppn << 12) & ~off_mask) | (va & off_mask);
    }
    return 0;
}
