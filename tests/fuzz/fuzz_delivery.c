/*  fuzz_delivery.c: what libfoundry does with a DELIVER batch frame from
 *  the broker (lib/client/sub.c): fdy_codec_split_batch() into the
 *  envelope's count of records, then fdy_codec_decode_delivery() and
 *  fdy_codec_decode_msg() on each, with the same arena budget. A decoded
 *  delivery must survive an encode/decode round trip unchanged. Input: 2
 *  bytes of record count (little-endian), then the frame.
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

/* Encodes d, decodes it again and aborts when anything changed. */
static void
s_round_trip(const fdy_delivery_t *d)
{
    size_t len = fdy_codec_delivery_size(d);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf || fdy_codec_delivery_write(d, buf) != len)
        abort();
    fdy_arena_t *arena = fdy_arena_new(2 * FDY_DECODE_BUDGET(len));
    fdy_delivery_t again;
    fdy_reason_t reason;
    if (!arena || fdy_codec_decode_delivery(buf, len, arena, &again, &reason) != FOUNDRY_OK)
        abort(); /* what decoded once must encode into something that decodes */
    if (strcmp(d->stream, again.stream) != 0 || d->seq != again.seq ||
        d->delivery_count != again.delivery_count || d->stored_ns != again.stored_ns ||
        strcmp(d->publisher, again.publisher) != 0 ||
        !s_bytes_equal(d->message, d->message_len, again.message, again.message_len) ||
        !s_bytes_equal(d->ext, d->ext_len, again.ext, again.ext_len))
        abort();
    fdy_arena_destroy(&arena);
    free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t count = (uint32_t) data[0] | (uint32_t) data[1] << 8;
    if (count == 0 || count > FDY_BATCH_MSGS_MAX)
        return 0; /* sub.c drops such a frame before splitting it */
    const uint8_t *frame = data + 2;
    size_t len = size - 2;
    fdy_slice_t *slices = calloc(count, sizeof *slices);
    if (!slices)
        return 0;
    fdy_reason_t reason;
    foundry_err err = fdy_codec_split_batch(frame, len, count, slices, &reason);
    if (err != FOUNDRY_OK && reason.text[0] == '\0')
        abort();
    fdy_arena_t *arena = err == FOUNDRY_OK ? fdy_arena_new(16) : NULL;
    for (uint32_t i = 0; arena && i < count; i++) {
        fdy_arena_reset(arena, 2 * FDY_DECODE_BUDGET(slices[i].len));
        fdy_delivery_t d;
        fdy_msg_t msg;
        err = fdy_codec_decode_delivery(slices[i].data, slices[i].len, arena, &d, &reason);
        if (err == FOUNDRY_OK) {
            if (d.seq == 0 || d.delivery_count == 0 || d.message_len == 0 || d.stream[0] == '\0')
                abort(); /* the decoder's promises */
            s_round_trip(&d);
            err = fdy_codec_decode_msg(d.message, d.message_len, arena, &msg, &reason);
        }
        if (err != FOUNDRY_OK && reason.text[0] == '\0')
            abort(); /* every skipped delivery is logged with its reason */
    }
    fdy_arena_destroy(&arena);
    free(slices);
    return 0;
}
