/* SPDX-License-Identifier: MIT */
/*
 * emulator/vmstate.c - the device-state blob: a header (magic, version,
 * length, feature bits), one tagged section per device in a fixed order,
 * and a CRC32C over everything before it. Used for snapshots and for the
 * machine state hash.
 */
#include "emulator/rv-int.h"

#include <string.h>

#include "common/bytes.h"
#include "common/hash.h"

enum {
    TAG_CLINT = 1,
    TAG_PLIC = 2,
    TAG_UART = 3,
    TAG_RTC = 4,
    TAG_VIRTIO = 16, /* + slot */
};

static uint8_t *section_begin(uint8_t *p, uint32_t tag, uint32_t len)
{
    wr_le32(p, tag);
    wr_le32(p + 4, len);
    return p + 8;
}

void rv_vmstate_devices_save(const struct rv_devices *d, uint8_t *dst)
{
    uint8_t *p = dst;

    wr_le32(p, RV_VMSTATE_MAGIC);
    wr_le32(p + 4, RV_VMSTATE_VERSION);
    wr_le32(p + 8, RV_VMSTATE_DEVICES_LEN);
    wr_le32(p + 12, 0); /* incompatible feature bits */
    p += RV_VMSTATE_HDR_LEN;
    p = section_begin(p, TAG_CLINT, RV_CLINT_STATE_LEN);
    rv_dev_clint_save(d->clint, p);
    p += RV_CLINT_STATE_LEN;
    p = section_begin(p, TAG_PLIC, RV_PLIC_STATE_LEN);
    rv_dev_plic_save(d->plic, p);
    p += RV_PLIC_STATE_LEN;
    p = section_begin(p, TAG_UART, RV_UART_STATE_LEN);
    rv_dev_uart_save(d->uart, p);
    p += RV_UART_STATE_LEN;
    p = section_begin(p, TAG_RTC, RV_RTC_STATE_LEN);
    rv_dev_rtc_save(d->rtc, p);
    p += RV_RTC_STATE_LEN;
    for (unsigned i = 0; i < RV_VIRTIO_SLOTS; i++) {
        p = section_begin(p, TAG_VIRTIO + i, RV_VIRTIO_STATE_LEN);
        rv_dev_virtio_save(&d->virtio[i], p);
        p += RV_VIRTIO_STATE_LEN;
    }
    wr_le32(p, hash_crc32c(0, dst, (size_t)(p - dst)));
}

/* Check one section header; returns its payload or NULL. */
static const uint8_t *section_check(const uint8_t *p, uint32_t tag,
                                    uint32_t len)
{
    if (rd_le32(p) != tag || rd_le32(p + 4) != len) {
        return NULL;
    }
    return p + 8;
}

int rv_vmstate_devices_load(const struct rv_devices *d, const uint8_t *src,
                            size_t src_len, struct err *err)
{
    static const struct {
        uint32_t tag, len;
    } layout[4] = {{TAG_CLINT, RV_CLINT_STATE_LEN},
                   {TAG_PLIC, RV_PLIC_STATE_LEN},
                   {TAG_UART, RV_UART_STATE_LEN},
                   {TAG_RTC, RV_RTC_STATE_LEN}};
    const uint8_t *p, *sec[RV_VMSTATE_SECTIONS];

    if (src_len != RV_VMSTATE_DEVICES_LEN || rd_le32(src) != RV_VMSTATE_MAGIC ||
        rd_le32(src + 8) != RV_VMSTATE_DEVICES_LEN) {
        return err_set(err, -EBADMSG, "device state: bad header");
    }
    if (rd_le32(src + 4) != RV_VMSTATE_VERSION || rd_le32(src + 12) != 0) {
        return err_set(err, -ENOTSUP, "device state: version %u unsupported",
                       rd_le32(src + 4));
    }
    if (hash_crc32c(0, src, src_len - 4) != rd_le32(src + src_len - 4)) {
        return err_set(err, -EBADMSG, "device state: checksum mismatch");
    }
    p = src + RV_VMSTATE_HDR_LEN;
    for (unsigned i = 0; i < RV_VMSTATE_SECTIONS; i++) {
        uint32_t tag = i < 4 ? layout[i].tag : TAG_VIRTIO + (i - 4);
        uint32_t len = i < 4 ? layout[i].len : RV_VIRTIO_STATE_LEN;

        sec[i] = section_check(p, tag, len);
        if (!sec[i]) {
            return err_set(err, -EBADMSG, "device state: section %u", i);
        }
        p += 8 + len;
    }
    for (unsigned i = 0; i < RV_VIRTIO_SLOTS; i++) {
        if (rd_le32(sec[4 + i]) != d->virtio[i].device_id) {
            return err_set(err, -EBADMSG,
                           "device state: virtio slot %u holds another "
                           "device type",
                           i);
        }
    }
    rv_dev_clint_load(d->clint, sec[0]);
    rv_dev_uart_load(d->uart, sec[2]);
    rv_dev_rtc_load(d->rtc, sec[3]);
    for (unsigned i = 0; i < RV_VIRTIO_SLOTS; i++) {
        rv_dev_virtio_load(&d->virtio[i], sec[4 + i]);
    }
    /* Last: the devices above re-drive their lines, which would re-pend
     * claimed sources; the PLIC's saved bits are the truth. */
    rv_dev_plic_load(d->plic, sec[1]);
    return 0;
}
