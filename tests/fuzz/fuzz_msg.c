/*  fuzz_msg.c: fdy_codec_decode_msg() on one untrusted batch record. What
 *  decodes must pass fdy_codec_check_msg() (the broker stores these bytes
 *  and consumers decode them again) and survive a re-encode unchanged.
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
s_bytes_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(size));
    if (!arena)
        return 0;
    fdy_reason_t reason;
    fdy_msg_t msg;
    foundry_err err = fdy_codec_decode_msg(data, size, arena, &msg, &reason);
    if (err != FOUNDRY_OK) {
        if (reason.text[0] == '\0')
            abort();
        fdy_arena_destroy(&arena);
        return 0;
    }
    if (fdy_codec_check_msg(&msg, &reason) != FOUNDRY_OK)
        abort(); /* decode is at least as strict as check */

    size_t len = fdy_codec_msg_size(&msg);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf || fdy_codec_msg_write(&msg, buf) != len)
        abort();
    fdy_arena_t *arena2 = fdy_arena_new(FDY_DECODE_BUDGET(size));
    fdy_msg_t again;
    if (!arena2 || fdy_codec_decode_msg(buf, len, arena2, &again, &reason) != FOUNDRY_OK)
        abort();
    if (!s_bytes_equal(msg.id, msg.id_len, again.id, again.id_len) ||
        strcmp(msg.subject, again.subject) != 0 ||
        !s_bytes_equal(msg.payload, msg.payload_len, again.payload, again.payload_len) ||
        msg.payload_frame != again.payload_frame || msg.timestamp_ns != again.timestamp_ns ||
        msg.ttl_ms != again.ttl_ms || msg.priority != again.priority ||
        strcmp(msg.target, again.target) != 0 ||
        !s_bytes_equal(msg.correlation_id, msg.correlation_id_len, again.correlation_id,
                       again.correlation_id_len) ||
        msg.header_count != again.header_count)
        abort();
    for (size_t i = 0; i < msg.header_count; i++)
        if (strcmp(msg.headers[i].key, again.headers[i].key) != 0 ||
            !s_bytes_equal(msg.headers[i].value, msg.headers[i].value_len, again.headers[i].value,
                           again.headers[i].value_len))
            abort();
    free(buf);
    fdy_arena_destroy(&arena2);
    fdy_arena_destroy(&arena);
    return 0;
}
