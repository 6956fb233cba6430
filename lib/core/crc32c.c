/*  crc32c.c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) over every
 *  stored and read record. Uses the SSE4.2 CRC32 instruction when the CPU has
 *  it and portable slicing-by-8 tables otherwise. Not a cryptographic hash:
 *  it detects torn or rotted records, not tampering.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>
#define CRC32C_HAVE_SSE42 1
#endif

#define CRC32C_POLY 0x82F63B78u

/* s_table[k][b]: the CRC of byte b followed by k zero bytes, so eight input
 * bytes fold in with eight independent lookups instead of eight dependent
 * shift rounds. */
static uint32_t s_table[8][256];

typedef uint32_t(crc_impl_fn)(uint32_t crc, const unsigned char *p, size_t len);
static crc_impl_fn *s_impl;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void
s_build_tables(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t crc = b;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (CRC32C_POLY & (0u - (crc & 1u)));
        s_table[0][b] = crc;
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++)
            s_table[k][b] = (s_table[k - 1][b] >> 8) ^ s_table[0][s_table[k - 1][b] & 0xffu];
}

/* Works on the raw (non-inverted) register. Words are assembled byte by
 * byte, which is endian-independent and compiles to one load on x86. */
static uint32_t
s_crc_portable(uint32_t crc, const unsigned char *p, size_t len)
{
    while (len >= 8) {
        uint32_t lo = crc ^ ((uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
                             (uint32_t) p[3] << 24);
        crc = s_table[7][lo & 0xffu] ^ s_table[6][(lo >> 8) & 0xffu] ^
              s_table[5][(lo >> 16) & 0xffu] ^ s_table[4][lo >> 24] ^ s_table[3][p[4]] ^
              s_table[2][p[5]] ^ s_table[1][p[6]] ^ s_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ s_table[0][(crc ^ *p++) & 0xffu];
    return crc;
}

#ifdef CRC32C_HAVE_SSE42
__attribute__((target("sse4.2"))) static uint32_t
s_crc_sse42(uint32_t crc, const unsigned char *p, size_t len)
{
    uint64_t crc64 = crc;
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8); /* unaligned-safe; one mov */
        crc64 = _mm_crc32_u64(crc64, word);
        p += 8;
        len -= 8;
    }
    uint32_t crc32 = (uint32_t) crc64;
    while (len--)
        crc32 = _mm_crc32_u8(crc32, *p++);
    return crc32;
}
#endif

static void
s_init(void)
{
    s_build_tables();
    s_impl = s_crc_portable;
#ifdef CRC32C_HAVE_SSE42
    if (__builtin_cpu_supports("sse4.2"))
        s_impl = s_crc_sse42;
#endif
}

uint32_t
fdy_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&s_once, s_init);
    return ~s_impl(~crc, data, len);
}

uint32_t
fdy_crc32c_portable(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&s_once, s_init);
    return ~s_crc_portable(~crc, data, len);
}
