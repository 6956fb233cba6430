/*  fuzz_delivery.c: what libfoundry does with a DELIVER batch frame from
 *  the broker (lib/client/sub.c): fdy_codec_split_batch() into the
 *  envelope's count of records, then fdy_codec_decode_delivery_view() and
 *  fdy_codec_decode_msg_view() on each, with the same arena budget. The
 *  copying decoders, and the memo decoders libfoundry runs (one memo
 *  across the frame's records), must give the same verdict and the same
 *  values, and a decoded delivery must survive an encode/decode round trip
 *  unchanged.
 *  Input: 2 bytes of record count (little-endian), then the frame.
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

static bool
s_text_equal(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The view of a record and its copy say the same. */
static bool
s_same_delivery(const fdy_delivery_t *a, const fdy_delivery_t *b)
{
    return s_text_equal(a->stream, b->stream) && a->seq == b->seq &&
           a->delivery_count == b->delivery_count && a->stored_ns == b->stored_ns &&
           s_text_equal(a->publisher, b->publisher) &&
           s_bytes_equal(a->message, a->message_len, b->message, b->message_len) &&
           s_bytes_equal(a->ext, a->ext_len, b->ext, b->ext_len);
}

static bool
s_same_msg(const fdy_msg_t *a, const fdy_msg_t *b)
{
    if (!s_bytes_equal(a->id, a->id_len, b->id, b->id_len) ||
        !s_text_equal(a->subject, b->subject) ||
        !s_bytes_equal(a->payload, a->payload_len, b->payload, b->payload_len) ||
        a->payload_frame != b->payload_frame || a->timestamp_ns != b->timestamp_ns ||
        a->ttl_ms != b->ttl_ms || a->priority != b->priority ||
        !s_text_equal(a->target, b->target) ||
        !s_bytes_equal(a->correlation_id, a->correlation_id_len, b->correlation_id,
                       b->correlation_id_len) ||
        a->header_count != b->header_count)
        return false;
    for (size_t i = 0; i < a->header_count; i++)
        if (!s_text_equal(a->headers[i].key, b->headers[i].key) ||
            !s_bytes_equal(a->headers[i].value, a->headers[i].value_len, b->headers[i].value,
                           b->headers[i].value_len))
            return false;
    return true;
}

/* The copying decoders on the same record: same verdict, same values. */
static void
s_compare_copies(const fdy_slice_t *record, foundry_err view_err, const fdy_delivery_t *view,
                 const fdy_msg_t *view_msg, foundry_err view_msg_err)
{
    fdy_arena_t *arena = fdy_arena_new(2 * FDY_DECODE_BUDGET(record->len));
    if (!arena)
        abort();
    fdy_delivery_t d;
    fdy_msg_t msg;
    fdy_reason_t reason;
    foundry_err err = fdy_codec_decode_delivery(record->data, record->len, arena, &d, &reason);
    if (err != view_err || (err == FOUNDRY_OK && !s_same_delivery(&d, view)))
        abort();
    if (err == FOUNDRY_OK) {
        err = fdy_codec_decode_msg(d.message, d.message_len, arena, &msg, &reason);
        if (err != view_msg_err || (err == FOUNDRY_OK && !s_same_msg(&msg, view_msg)))
            abort();
    }
    fdy_arena_destroy(&arena);
}

/* The memo decoders on the same record: same verdicts, same values. */
static void
s_compare_memo(const fdy_slice_t *record, fdy_delivery_memo_t *memo, foundry_err delivery_err,
               const fdy_delivery_t *d, const fdy_msg_t *msg, foundry_err msg_err)
{
    fdy_arena_t *arena = fdy_arena_new(2 * FDY_DECODE_BUDGET(record->len));
    if (!arena)
        return;
    fdy_reason_t reason;
    fdy_delivery_t md;
    fdy_msg_t mm;
    foundry_err err =
        fdy_codec_decode_delivery_memo(record->data, record->len, arena, memo, &md, &reason);
    if (err != delivery_err)
        abort();
    if (err == FOUNDRY_OK) {
        if (!s_text_equal(md.stream, d->stream) || !s_text_equal(md.publisher, d->publisher) ||
            md.seq != d->seq || md.message != d->message || md.message_len != d->message_len)
            abort();
        err = fdy_codec_decode_msg_memo(md.message, md.message_len, arena, memo, &mm, &reason);
        if (err != msg_err)
            abort();
        if (err == FOUNDRY_OK &&
            (!s_text_equal(mm.subject, msg->subject) || !s_text_equal(mm.target, msg->target)))
            abort();
    }
    fdy_arena_destroy(&arena);
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
    fdy_delivery_memo_t memo = {0};
    for (uint32_t i = 0; arena && i < count; i++) {
        fdy_arena_reset(arena, 2 * FDY_DECODE_BUDGET(slices[i].len));
        fdy_delivery_t d;
        fdy_msg_t msg;
        err = fdy_codec_decode_delivery_view(slices[i].data, slices[i].len, arena, &d, &reason);
        foundry_err delivery_err = err, msg_err = FOUNDRY_OK;
        if (err == FOUNDRY_OK) {
            if (d.seq == 0 || d.delivery_count == 0 || d.message_len == 0 || d.stream[0] == '\0')
                abort(); /* the decoder's promises */
            s_round_trip(&d);
            err = msg_err =
                fdy_codec_decode_msg_view(d.message, d.message_len, arena, &msg, &reason);
        }
        if (err != FOUNDRY_OK && reason.text[0] == '\0')
            abort(); /* every skipped delivery is logged with its reason */
        s_compare_copies(&slices[i], delivery_err, &d, &msg, msg_err);
        s_compare_memo(&slices[i], &memo, delivery_err, &d, &msg, msg_err);
    }
    fdy_arena_destroy(&arena);
    free(slices);
    return 0;
}
