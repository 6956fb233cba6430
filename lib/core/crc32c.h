/*  crc32c.h: CRC-32C (Castagnoli) for the checksum of every stored record. */
#ifndef FDY_CRC32C_H_INCLUDED
#define FDY_CRC32C_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

/* Continues crc over len bytes of data; start with crc = 0.
 * fdy_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t fdy_crc32c(uint32_t crc, const void *data, size_t len);

/* The same function computed with the portable tables only, never the CPU
 * instruction. fdy_crc32c() falls back to it; exposed so the unit test
 * checks both paths agree on machines that have the instruction. */
uint32_t fdy_crc32c_portable(uint32_t crc, const void *data, size_t len);

#endif
