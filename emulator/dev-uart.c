/* SPDX-License-Identifier: MIT */
/*
 * emulator/dev-uart.c - ns16550a UART (byte registers, reg-shift 0) with
 * receive/transmit interrupts as QEMU's hw/char/serial.c raises them.
 * Transmission completes at once. Host input enters only through
 * host->input_byte, one byte at a time, when the receive FIFO is empty:
 * at rv_dev_uart_poll_input() (between CPU slices) and when the guest reads
 * the last byte, so the guest decides when input is consumed. A BREAK comes
 * the same way and is received as QEMU's serial_receive_break(): a NUL in
 * the FIFO with LSR BI set until the guest reads LSR, and a receiver line
 * status interrupt if IER enables it.
 */
#include "emulator/rv-int.h"

#include "common/bytes.h"

enum {
    REG_RBR = 0, /* THR, DLL */
    REG_IER = 1, /* DLM */
    REG_IIR = 2, /* FCR */
    REG_LCR = 3,
    REG_MCR = 4,
    REG_LSR = 5,
    REG_MSR = 6,
    REG_SCR = 7,
};

#define IER_RDI    0x01
#define IER_THRI   0x02
#define IER_RLSI   0x04
#define IIR_NO_INT 0x01
#define IIR_RLSI   0x06
#define IIR_THRI   0x02
#define IIR_RDI    0x04
#define IIR_CTI    0x0c
#define IIR_FIFO   0xc0
#define FCR_ENABLE 0x01
#define FCR_CLR_RX 0x02
#define LCR_DLAB   0x80
#define MCR_LOOP   0x10
#define LSR_DR     0x01
#define LSR_BI     0x10
#define LSR_THRE   0x20
#define LSR_TEMT   0x40
#define MSR_CTS    0x10
#define MSR_DSR    0x20
#define MSR_RI     0x40
#define MSR_DCD    0x80

static unsigned rx_trigger(const struct rv_uart *u)
{
    static const unsigned itl[4] = {1, 4, 8, 14};

    return itl[(u->fcr >> 6) & 3];
}

static uint8_t uart_iir(const struct rv_uart *u)
{
    uint8_t iir = IIR_NO_INT;

    if ((u->ier & IER_RLSI) && u->lsr_bi) {
        iir = IIR_RLSI;
    } else if ((u->ier & IER_RDI) && u->rx_count) {
        if (!(u->fcr & FCR_ENABLE) || u->rx_count >= rx_trigger(u)) {
            iir = IIR_RDI;
        } else {
            iir = IIR_CTI;
        }
    } else if ((u->ier & IER_THRI) && u->thr_ipending) {
        iir = IIR_THRI;
    }
    if (u->fcr & FCR_ENABLE) {
        iir |= IIR_FIFO;
    }
    return iir;
}

static void uart_update_irq(struct rv_uart *u)
{
    bool level = (uart_iir(u) & IIR_NO_INT) == 0;

    u->host->set_irq(u->host->opaque, u->irq, level);
}

static void rx_push(struct rv_uart *u, uint8_t b)
{
    if (u->rx_count == RV_UART_FIFO) {
        return;
    }
    u->rx[(u->rx_head + u->rx_count) % RV_UART_FIFO] = b;
    u->rx_count++;
}

void rv_dev_uart_init(struct rv_uart *u, const struct rv_dev_host *host,
                      unsigned irq)
{
    u->host = host;
    u->irq = irq;
    rv_dev_uart_reset(u);
}

void rv_dev_uart_reset(struct rv_uart *u)
{
    u->ier = 0;
    u->lcr = 0;
    u->mcr = 0;
    u->scr = 0;
    u->dll = 0x0c;
    u->dlm = 0;
    u->fcr = 0;
    u->thr_ipending = false;
    u->lsr_bi = false;
    u->rx_head = 0;
    u->rx_count = 0;
    uart_update_irq(u);
}

void rv_dev_uart_poll_input(struct rv_uart *u)
{
    uint8_t b;
    int got;

    if (u->rx_count || (u->mcr & MCR_LOOP)) {
        return;
    }
    got = u->host->input_byte(u->host->opaque, &b);
    if (got == RV_INPUT_BREAK) {
        rx_push(u, 0);
        u->lsr_bi = true;
        uart_update_irq(u);
    } else if (got == RV_INPUT_BYTE) {
        rx_push(u, b);
        uart_update_irq(u);
    }
}

static uint8_t uart_msr(const struct rv_uart *u)
{
    uint8_t msr = 0;

    if (!(u->mcr & MCR_LOOP)) {
        return MSR_DCD | MSR_DSR | MSR_CTS;
    }
    if (u->mcr & 0x01) {
        msr |= MSR_DSR;
    }
    if (u->mcr & 0x02) {
        msr |= MSR_CTS;
    }
    if (u->mcr & 0x04) {
        msr |= MSR_RI;
    }
    if (u->mcr & 0x08) {
        msr |= MSR_DCD;
    }
    return msr;
}

int rv_dev_uart_read(void *dev, uint64_t off, unsigned size_log2, uint64_t *val)
{
    struct rv_uart *u = dev;
    uint8_t iir;

    *val = 0;
    if (off >= 8) {
        return off < RV_UART_SIZE ? 0 : -1;
    }
    switch (off) {
    case REG_RBR:
        if (u->lcr & LCR_DLAB) {
            *val = u->dll;
            break;
        }
        if (u->rx_count) {
            *val = u->rx[u->rx_head];
            u->rx_head = (u->rx_head + 1) % RV_UART_FIFO;
            u->rx_count--;
        }
        if (!u->rx_count) {
            rv_dev_uart_poll_input(u);
        }
        uart_update_irq(u);
        break;
    case REG_IER:
        *val = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
        break;
    case REG_IIR:
        iir = uart_iir(u);
        *val = iir;
        if ((iir & 0x0f) == IIR_THRI) {
            u->thr_ipending = false;
            uart_update_irq(u);
        }
        break;
    case REG_LCR:
        *val = u->lcr;
        break;
    case REG_MCR:
        *val = u->mcr;
        break;
    case REG_LSR:
        *val = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0) |
               (u->lsr_bi ? LSR_BI : 0);
        if (u->lsr_bi) {
            u->lsr_bi = false;
            uart_update_irq(u);
        }
        break;
    case REG_MSR:
        *val = uart_msr(u);
        break;
    case REG_SCR:
        *val = u->scr;
        break;
    }
    return 0;
}

int rv_dev_uart_write(void *dev, uint64_t off, unsigned size_log2, uint64_t val)
{
    struct rv_uart *u = dev;
    uint8_t b = (uint8_t)val;
    uint8_t changed;

    if (off >= 8) {
        return off < RV_UART_SIZE ? 0 : -1;
    }
    switch (off) {
    case REG_RBR:
        if (u->lcr & LCR_DLAB) {
            u->dll = b;
            break;
        }
        u->thr_ipending = false;
        if (u->mcr & MCR_LOOP) {
            rx_push(u, b);
        } else {
            u->host->output(u->host->opaque, &b, 1);
        }
        u->thr_ipending = true;
        break;
    case REG_IER:
        if (u->lcr & LCR_DLAB) {
            u->dlm = b;
            break;
        }
        changed = (u->ier ^ b) & 0x0f;
        u->ier = b & 0x0f;
        if (changed & IER_THRI) {
            u->thr_ipending = (u->ier & IER_THRI) != 0;
        }
        break;
    case REG_IIR:
        u->fcr = b & 0xc9;
        if (b & FCR_CLR_RX) {
            u->rx_head = 0;
            u->rx_count = 0;
            u->lsr_bi = false;
        }
        break;
    case REG_LCR:
        u->lcr = b;
        break;
    case REG_MCR:
        u->mcr = b & 0x1f;
        break;
    case REG_SCR:
        u->scr = b;
        break;
    default:
        break;
    }
    uart_update_irq(u);
    return 0;
}

void rv_dev_uart_save(const struct rv_uart *u, uint8_t *dst)
{
    dst[0] = u->ier;
    dst[1] = u->lcr;
    dst[2] = u->mcr;
    dst[3] = u->scr;
    dst[4] = u->dll;
    dst[5] = u->dlm;
    dst[6] = u->fcr;
    /* Bit 0: THRE interrupt pending; bit 1: LSR BI (docs/formats). */
    dst[7] = (uint8_t)(u->thr_ipending | (u->lsr_bi << 1));
    wr_le32(dst + 8, u->rx_head);
    wr_le32(dst + 12, u->rx_count);
    for (unsigned i = 0; i < RV_UART_FIFO; i++) {
        dst[16 + i] = u->rx[i];
    }
}

void rv_dev_uart_load(struct rv_uart *u, const uint8_t *src)
{
    u->ier = src[0] & 0x0f;
    u->lcr = src[1];
    u->mcr = src[2] & 0x1f;
    u->scr = src[3];
    u->dll = src[4];
    u->dlm = src[5];
    u->fcr = src[6] & 0xc9;
    u->thr_ipending = (src[7] & 1) != 0;
    u->lsr_bi = (src[7] & 2) != 0;
    u->rx_head = rd_le32(src + 8) % RV_UART_FIFO;
    u->rx_count = rd_le32(src + 12);
    if (u->rx_count > RV_UART_FIFO) {
        u->rx_count = RV_UART_FIFO;
    }
    for (unsigned i = 0; i < RV_UART_FIFO; i++) {
        u->rx[i] = src[16 + i];
    }
    uart_update_irq(u);
}
