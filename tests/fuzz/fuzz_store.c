/*  fuzz_store.c: the broker's decoders of stored records (broker/store/),
 *  which must refuse a damaged LMDB value with ECORRUPT and never read past
 *  it: message records (fdy_store_record_parse, checksum verified, as every
 *  read does), key records (fdy_store_key_record_open, then the registry's
 *  fdy_codec_decode_principal), and stream records (counters, filters).
 *
 *  Input: one selector byte, then the value. Its low two bits pick the
 *  decoder: 0 message record, 1 key record (schema 4, framed), 2 key record
 *  of an older schema (bare), 3 stream record. With bit 7 set the harness
 *  first writes the right CRC-32C into a message or framed key record, so
 *  the fuzzer also gets past the checksum.
 */
#include "codec.h"
#include "crc32c.h"
#include "store_keys.h"
#include "store_messages.h"
#include "store_streams.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { S_MESSAGE = 0, S_KEY = 1, S_KEY_BARE = 2, S_STREAM = 3 };

static void
s_need_reason(const fdy_reason_t *reason)
{
    if (reason->text[0] == '\0')
        abort(); /* every refusal names its reason */
}

static size_t
s_sum(const uint8_t *p, size_t len)
{
    size_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += p[i];
    return sum;
}

static void
s_message(const MDB_val *val)
{
    fdy_stored_t rec;
    fdy_store_parse_buf_t buf;
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    foundry_err err = fdy_store_record_parse("fuzz", 7, val, true, &rec, &buf, &reason);
    if (err != FOUNDRY_OK) {
        if (err != FOUNDRY_ECORRUPT)
            abort();
        s_need_reason(&reason);
        return;
    }
    const uint8_t *start = val->mv_data, *end = start + val->mv_size;
    /* Every slice lies inside the value, and data + ext end it. */
    if (rec.msg_id < start || rec.msg_id + rec.msg_id_len > end || rec.data < start ||
        rec.data + rec.data_len + rec.ext_len != end ||
        (rec.ext && rec.ext != rec.data + rec.data_len))
        abort();
    if (fdy_store_record_msg_bytes(val) != rec.data_len + rec.ext_len)
        abort(); /* trim's count from the header agrees with the parse */
    volatile size_t sum = strlen(rec.publisher) + s_sum(rec.msg_id, rec.msg_id_len) +
                          s_sum(rec.data, rec.data_len) + s_sum(rec.ext, rec.ext_len);
    if (rec.dead_letter)
        sum += strlen(rec.dead_letter->stream) + strlen(rec.dead_letter->consumer) +
               strlen(rec.dead_letter->reason);
    (void) sum;
}

static void
s_key(const MDB_val *val, bool framed)
{
    const uint8_t *payload;
    size_t len;
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    foundry_err err = fdy_store_key_record_open(framed ? FDY_KEY_REC_SCHEMA : 3, "fuzz", val,
                                                &payload, &len, &reason);
    if (err != FOUNDRY_OK) {
        s_need_reason(&reason);
        return;
    }
    if (payload < (const uint8_t *) val->mv_data ||
        payload + len != (const uint8_t *) val->mv_data + val->mv_size)
        abort();
    fdy_principal_t p;
    if (fdy_codec_decode_principal(payload, len, &p) != FOUNDRY_OK)
        return;
    /* What decodes is NUL-ended and within its bounds. */
    if (strnlen(p.name, FDY_NAME_MAX) == FDY_NAME_MAX ||
        strnlen(p.public_key, sizeof p.public_key) == sizeof p.public_key ||
        strnlen(p.site, FDY_NAME_MAX) == FDY_NAME_MAX ||
        strnlen(p.tenant, FDY_NAME_MAX) == FDY_NAME_MAX || p.allow_count > FDY_ALLOW_MAX ||
        p.allow_subscribe_count > FDY_ALLOW_MAX)
        abort();
    volatile size_t sum = 0;
    for (size_t i = 0; i < p.allow_count; i++)
        sum += strlen(p.allow_publish[i]);
    for (size_t i = 0; i < p.allow_subscribe_count; i++)
        sum += strlen(p.allow_subscribe[i]);
    (void) sum;
    fdy_principal_clear(&p);
}

/* Counters first, then filters, as every reader of a stream record does
 * (the filters decoder relies on the size the counters decoder checked). */
static void
s_stream(const MDB_val *val)
{
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    fdy_stream_counters_t counters;
    if (fdy_store_stream_counters_decode("fuzz", val, &counters, &reason) != FOUNDRY_OK) {
        s_need_reason(&reason);
        return;
    }
    char *list[FDY_STREAM_FILTERS_MAX] = {0};
    size_t count = 0;
    foundry_err err = fdy_store_stream_filters_decode("fuzz", val, list, &count, &reason);
    if (err != FOUNDRY_OK)
        s_need_reason(&reason);
    if (count > FDY_STREAM_FILTERS_MAX)
        abort();
    volatile size_t sum = 0;
    for (size_t i = 0; err == FOUNDRY_OK && i < count; i++)
        sum += strlen(list[i]);
    (void) sum;
    fdy_store_stream_filters_free(list, count);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned selector = data[0];
    size_t len = size - 1;
    /* An exact-size copy: the CRC may be fixed in it, and ASan sees reads
     * past the value's end as LMDB's would be. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return 0;
    memcpy(copy, data + 1, len);
    int kind = selector & 3;
    if ((selector & 0x80) && (kind == S_MESSAGE || kind == S_KEY) && len >= 4) {
        uint32_t crc = fdy_crc32c(0, copy + 4, len - 4);
        for (int i = 0; i < 4; i++)
            copy[i] = (uint8_t) (crc >> (8 * i));
    }
    MDB_val val = {len, copy};
    switch (kind) {
    case S_MESSAGE: s_message(&val); break;
    case S_KEY: s_key(&val, true); break;
    case S_KEY_BARE: s_key(&val, false); break;
    default: s_stream(&val); break;
    }
    free(copy);
    return 0;
}
