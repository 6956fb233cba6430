/*  bytes.h: fixed-width integers to and from bytes, little endian (record
 *  fields) and big endian (LMDB keys, so memcmp order is numeric order).
 *  Shared by the store and the node outbox; header-only and allocation-free.
 *  Also a bounded reader for hand-written records. Not for varints (each
 *  record format keeps its own).
 */
#ifndef FDY_BYTES_H_INCLUDED
#define FDY_BYTES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline void
fdy_bytes_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
}

static inline uint16_t
fdy_bytes_get_le16(const uint8_t *p)
{
    return (uint16_t) (p[0] | (unsigned) p[1] << 8);
}

static inline void
fdy_bytes_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static inline uint32_t
fdy_bytes_get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline void
fdy_bytes_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static inline uint64_t
fdy_bytes_get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline void
fdy_bytes_put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (24 - 8 * i));
}

static inline uint32_t
fdy_bytes_get_be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static inline void
fdy_bytes_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (56 - 8 * i));
}

static inline uint64_t
fdy_bytes_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* A bounded reader of a record's bytes: a read past the end (or after
 * one) gives 0 or NULL and sets bad, so a decoder reads every field and
 * checks bad once. */
typedef struct {
    const uint8_t *at;
    size_t left;
    bool bad;
} fdy_bytes_in_t;

/* The next n bytes (borrowed from the record), or NULL. */
static inline const uint8_t *
fdy_bytes_take(fdy_bytes_in_t *in, size_t n)
{
    if (in->bad || in->left < n) {
        in->bad = true;
        return NULL;
    }
    const uint8_t *at = in->at;
    in->at += n;
    in->left -= n;
    return at;
}

static inline uint8_t
fdy_bytes_take_u8(fdy_bytes_in_t *in)
{
    const uint8_t *p = fdy_bytes_take(in, 1);
    return p ? p[0] : 0;
}

static inline uint16_t
fdy_bytes_take_le16(fdy_bytes_in_t *in)
{
    const uint8_t *p = fdy_bytes_take(in, 2);
    return p ? fdy_bytes_get_le16(p) : 0;
}

static inline uint32_t
fdy_bytes_take_le32(fdy_bytes_in_t *in)
{
    const uint8_t *p = fdy_bytes_take(in, 4);
    return p ? fdy_bytes_get_le32(p) : 0;
}

static inline uint64_t
fdy_bytes_take_le64(fdy_bytes_in_t *in)
{
    const uint8_t *p = fdy_bytes_take(in, 8);
    return p ? fdy_bytes_get_le64(p) : 0;
}

#endif
