/* SPDX-License-Identifier: MIT */
/*
 * emulator/fdt.c - the device tree of QEMU 7.2's virt machine for one hart,
 * node for node and property for property in QEMU's order, minus what we
 * do not model (pmu, fw-cfg, flash, platform-bus, pci) and minus the random
 * /chosen/rng-seed, so the blob depends only on the configuration. The
 * /soc device nodes come from the board's device table (machine-virt.c,
 * struct rv_fdt_dev); the rest of the tree is written here.
 */
#include "emulator/rv-int.h"

#include <libfdt.h>
#include <stdio.h>
#include <string.h>

/* Accumulates the first libfdt error so the builder reads straight. */
struct fdtw {
    void *fdt;
    int err;
};

static void begin(struct fdtw *w, const char *name)
{
    if (!w->err) {
        w->err = fdt_begin_node(w->fdt, name);
    }
}

static void end(struct fdtw *w)
{
    if (!w->err) {
        w->err = fdt_end_node(w->fdt);
    }
}

static void prop(struct fdtw *w, const char *name, const void *val, int len)
{
    if (!w->err) {
        w->err = fdt_property(w->fdt, name, val, len);
    }
}

static void prop_str(struct fdtw *w, const char *name, const char *s)
{
    prop(w, name, s, (int)strlen(s) + 1);
}

static void prop_u32(struct fdtw *w, const char *name, uint32_t v)
{
    fdt32_t b = cpu_to_fdt32(v);

    prop(w, name, &b, sizeof(b));
}

/* A list of 32-bit cells. */
static void prop_cells(struct fdtw *w, const char *name, const uint32_t *c,
                       unsigned n)
{
    fdt32_t b[16];

    for (unsigned i = 0; i < n && i < 16; i++) {
        b[i] = cpu_to_fdt32(c[i]);
    }
    prop(w, name, b, (int)(n * sizeof(fdt32_t)));
}

/* reg = <base size> with 2 address and 2 size cells. */
static void prop_reg(struct fdtw *w, uint64_t base, uint64_t size)
{
    uint32_t c[4] = {(uint32_t)(base >> 32), (uint32_t)base,
                     (uint32_t)(size >> 32), (uint32_t)size};

    prop_cells(w, "reg", c, 4);
}

static void node_name(char *dst, size_t cap, const char *name, uint64_t addr)
{
    snprintf(dst, cap, "%s@%llx", name, (unsigned long long)addr);
}

/* QEMU 7.2 writes the initrd bounds as single cells. */
static void prop_addr_cell(struct fdtw *w, const char *name, uint64_t v)
{
    uint32_t c[2] = {(uint32_t)(v >> 32), (uint32_t)v};

    if (v >> 32) {
        prop_cells(w, name, c, 2);
    } else {
        prop_u32(w, name, (uint32_t)v);
    }
}

static void build_chosen(struct fdtw *w, const struct rv_fdt_params *p)
{
    begin(w, "chosen");
    if (p->initrd_start || p->initrd_end) {
        prop_addr_cell(w, "linux,initrd-end", p->initrd_end);
        prop_addr_cell(w, "linux,initrd-start", p->initrd_start);
    }
    /* (QEMU has the random rng-seed here.) */
    if (p->bootargs && *p->bootargs) {
        prop_str(w, "bootargs", p->bootargs);
    }
    prop_str(w, "stdout-path", "/soc/serial@10000000");
    end(w);
}

static void build_syscon(struct fdtw *w, const char *name, const char *compat,
                         uint32_t value)
{
    begin(w, name);
    prop_u32(w, "value", value);
    prop_u32(w, "offset", 0);
    prop_u32(w, "regmap", RV_FDT_PH_TEST);
    prop_str(w, "compatible", compat);
    end(w);
}

static void build_cpus(struct fdtw *w, const struct rv_fdt_params *p)
{
    begin(w, "cpus");
    prop_u32(w, "#address-cells", 1);
    prop_u32(w, "#size-cells", 0);
    prop_u32(w, "timebase-frequency", RV_TIMEBASE_HZ);
    begin(w, "cpu@0");
    prop_u32(w, "phandle", RV_FDT_PH_CPU0);
    prop_str(w, "device_type", "cpu");
    prop_u32(w, "reg", 0);
    prop_str(w, "status", "okay");
    prop_str(w, "compatible", "riscv");
    prop_str(w, "riscv,isa", p->isa);
    prop_str(w, "mmu-type", p->mmu_type);
    begin(w, "interrupt-controller");
    prop_u32(w, "#interrupt-cells", 1);
    prop(w, "interrupt-controller", NULL, 0);
    prop_str(w, "compatible", "riscv,cpu-intc");
    prop_u32(w, "phandle", RV_FDT_PH_INTC0);
    end(w);
    end(w);
    begin(w, "cpu-map");
    begin(w, "cluster0");
    begin(w, "core0");
    prop_u32(w, "cpu", RV_FDT_PH_CPU0);
    end(w);
    end(w);
    end(w);
    end(w);
}

/* interrupts-extended = <&intc0 bit ...> */
static void prop_hart_irqs(struct fdtw *w, const struct rv_fdt_dev *d)
{
    uint32_t cells[2 * RV_FDT_HART_IRQS_MAX];

    for (unsigned i = 0; i < d->nb_hart_irqs; i++) {
        cells[2 * i] = RV_FDT_PH_INTC0;
        cells[2 * i + 1] = d->hart_irqs[i];
    }
    prop_cells(w, "interrupts-extended", cells, 2 * d->nb_hart_irqs);
}

/* One device's node, in the property order struct rv_fdt_dev states. */
static void build_dev(struct fdtw *w, const struct rv_fdt_node *n)
{
    const struct rv_fdt_dev *d = n->dev;
    char name[64];

    node_name(name, sizeof(name), d->node, n->base);
    begin(w, name);
    if (d->phandle) {
        prop_u32(w, "phandle", d->phandle);
    }
    if (d->ndev) {
        prop_u32(w, "riscv,ndev", d->ndev);
        prop_reg(w, n->base, d->size);
        prop_hart_irqs(w, d);
        prop(w, "interrupt-controller", NULL, 0);
        prop(w, "compatible", d->compat, (int)d->compat_len);
        prop_u32(w, "#address-cells", 0);
        prop_u32(w, "#interrupt-cells", 1);
        end(w);
        return;
    }
    if (n->irq) {
        prop_u32(w, "interrupts", n->irq);
        prop_u32(w, "interrupt-parent", RV_FDT_PH_PLIC);
    }
    if (d->clock) {
        prop_u32(w, "clock-frequency", d->clock);
    }
    if (d->nb_hart_irqs) {
        prop_hart_irqs(w, d);
    }
    prop_reg(w, n->base, d->size);
    prop(w, "compatible", d->compat, (int)d->compat_len);
    end(w);
}

static void build_soc(struct fdtw *w, const struct rv_fdt_params *p)
{
    begin(w, "soc");
    prop_u32(w, "#address-cells", 2);
    prop_u32(w, "#size-cells", 2);
    prop_str(w, "compatible", "simple-bus");
    prop(w, "ranges", NULL, 0);
    for (size_t i = 0; i < p->nb_devs; i++) {
        build_dev(w, &p->devs[i]);
    }
    end(w);
}

int rv_fdt_build(const struct rv_fdt_params *p, uint8_t *dst, size_t dst_cap,
                 struct err *err)
{
    struct fdtw w = {dst, 0};
    char name[64];

    CHECK_ARG(p && dst && p->isa && p->mmu_type && (p->devs || !p->nb_devs));
    if (dst_cap > RV_FDT_MAX_SIZE) {
        dst_cap = RV_FDT_MAX_SIZE;
    }
    w.err = fdt_create(dst, (int)dst_cap);
    if (!w.err) {
        w.err = fdt_finish_reservemap(dst);
    }
    begin(&w, "");
    prop_u32(&w, "#address-cells", 2);
    prop_u32(&w, "#size-cells", 2);
    prop_str(&w, "compatible", "riscv-virtio");
    prop_str(&w, "model", "riscv-virtio,qemu");
    build_chosen(&w, p);
    build_syscon(&w, "poweroff", "syscon-poweroff", RV_TEST_PASS);
    build_syscon(&w, "reboot", "syscon-reboot", RV_TEST_RESET);
    node_name(name, sizeof(name), "memory", RV_RAM_BASE);
    begin(&w, name);
    prop_str(&w, "device_type", "memory");
    prop_reg(&w, RV_RAM_BASE, p->ram_size);
    end(&w);
    build_cpus(&w, p);
    build_soc(&w, p);
    end(&w);
    if (!w.err) {
        w.err = fdt_finish(dst);
    }
    if (w.err) {
        return err_set(err, w.err == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL,
                       "device tree: %s", fdt_strerror(w.err));
    }
    return (int)fdt_totalsize(dst);
}

int rv_fdt_fixup_chosen(uint8_t *dtb, size_t dst_cap,
                        const struct rv_fdt_params *p, struct err *err)
{
    int off, ret;
    uint64_t v;

    CHECK_ARG(dtb && p);
    if (dst_cap > RV_FDT_MAX_SIZE) {
        dst_cap = RV_FDT_MAX_SIZE;
    }
    ret = fdt_check_header(dtb);
    if (ret == 0 && fdt_totalsize(dtb) > dst_cap) {
        ret = -FDT_ERR_TRUNCATED;
    }
    if (ret == 0) {
        ret = fdt_open_into(dtb, dtb, (int)dst_cap);
    }
    if (ret < 0) {
        return err_set(err, -EBADMSG, "device tree: %s", fdt_strerror(ret));
    }
    off = fdt_path_offset(dtb, "/chosen");
    if (off < 0) {
        off = fdt_add_subnode(dtb, 0, "chosen");
    }
    ret = off < 0 ? off : 0;
    if (!ret && p->bootargs) {
        ret = fdt_setprop_string(dtb, off, "bootargs", p->bootargs);
    }
    if (!ret && (p->initrd_start || p->initrd_end)) {
        v = cpu_to_fdt64(p->initrd_start);
        ret = fdt_setprop(dtb, off, "linux,initrd-start", &v, sizeof(v));
        v = cpu_to_fdt64(p->initrd_end);
        if (!ret) {
            ret = fdt_setprop(dtb, off, "linux,initrd-end", &v, sizeof(v));
        }
    }
    if (!ret) {
        ret = fdt_pack(dtb);
    }
    if (ret < 0) {
        return err_set(err, ret == -FDT_ERR_NOSPACE ? -ENOSPC : -EBADMSG,
                       "device tree: %s", fdt_strerror(ret));
    }
    return (int)fdt_totalsize(dtb);
}
