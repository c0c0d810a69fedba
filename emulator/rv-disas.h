/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv-disas.h - RV64 disassembler whose text is exactly what QEMU
 * 7.2 prints for `-d in_asm` (disas/riscv.c), for rrvm's own in_asm log.
 * Pure functions: no allocation, no state, safe from any thread.
 */
#ifndef EMULATOR_RV_DISAS_H
#define EMULATOR_RV_DISAS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Longest text rv_disas() produces, NUL excluded. QEMU formats into a
 * 128-byte buffer, so its text never exceeds 127 characters.
 */
#define RV_DISAS_TEXT_MAX 127
/* Longest line rv_disas_line() produces: "0x" 16 hex ":  " 18 columns. */
#define RV_DISAS_LINE_MAX (2 + 16 + 3 + 18 + RV_DISAS_TEXT_MAX)

/*
 * Instruction length QEMU's disassembler derives from the first 16-bit
 * parcel @lo: 2, 4, 6 or 8 bytes, or 0 for the encodings it gives no
 * length (low seven bits all ones).
 */
unsigned rv_disas_len(uint16_t lo);

/*
 * Disassemble the instruction at guest address @pc whose first bytes are
 * @raw (little-endian; a 16-bit form uses only the low 16 bits). Writes the
 * text QEMU prints after the "0x...:  " prefix and the hex column: the
 * mnemonic column onward, padding included, NUL-terminated and truncated
 * to @outsz - 1 characters (nothing is written when @outsz is 0).
 * Returns rv_disas_len() of @raw: 2 or 4 for every RV64GC encoding.
 */
size_t rv_disas(uint64_t pc, uint32_t raw, char *out, size_t outsz);

/*
 * Format one whole QEMU in_asm line (no newline) for the instruction at
 * @pc: "0x%016x:  ", the hex column ("%04x" + 14 spaces, "%08x" + 10, ...)
 * and the text. @raw holds @avail (>= 2) bytes read at @pc, little-endian;
 * like QEMU, a 48/64-bit form shows only the parcels that could be read.
 * Output is NUL-terminated and truncated to @dst_cap - 1 characters.
 * Returns the bytes QEMU advances by: 2, 4, 6 or 8, except that the
 * lengthless encodings return 2 (QEMU 7.2 would loop on them forever).
 */
size_t rv_disas_line(uint64_t pc, uint64_t raw, size_t avail, char *dst,
                     size_t dst_cap);

#endif /* EMULATOR_RV_DISAS_H */
