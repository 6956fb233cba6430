/*  fuzz_batch.c: fdy_codec_split_batch() then fdy_codec_decode_msg_view() on
 *  each record, as the broker handles frame 1 of a PUBLISH; the copying
 *  fdy_codec_decode_msg() must give the same verdict, id and payload. Input:
 *  2 bytes of record count (little-endian), then the batch frame.
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t count = (uint32_t) data[0] | (uint32_t) data[1] << 8;
    const uint8_t *frame = data + 2;
    size_t len = size - 2;
    fdy_slice_t *slices = calloc(count ? count : 1, sizeof *slices);
    if (!slices)
        return 0;
    fdy_reason_t reason;
    foundry_err err = fdy_codec_split_batch(frame, len, count, slices, &reason);
    if (err != FOUNDRY_OK) {
        if (reason.text[0] == '\0')
            abort();
        free(slices);
        return 0;
    }
    /* The records tile the frame exactly: each after its own prefix. */
    size_t pos = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t prefix[10];
        pos += fdy_codec_batch_put_prefix(slices[i].len, prefix);
        if (slices[i].data != frame + pos)
            abort();
        pos += slices[i].len;
    }
    if (pos != len)
        abort();

    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(len));
    for (uint32_t i = 0; arena && i < count; i++) {
        fdy_msg_t msg, copy;
        err = fdy_codec_decode_msg_view(slices[i].data, slices[i].len, arena, &msg, &reason);
        if (err == FOUNDRY_OK && (strlen(msg.subject) == 0 || msg.id_len == 0))
            abort();
        if (err != FOUNDRY_OK && reason.text[0] == '\0')
            abort();
        fdy_reason_t copy_reason;
        foundry_err copy_err =
            fdy_codec_decode_msg(slices[i].data, slices[i].len, arena, &copy, &copy_reason);
        if (copy_err != err && copy_err != FOUNDRY_ENOMEM)
            abort(); /* the copy may run out of the arena the view did not need */
        if (copy_err == FOUNDRY_OK &&
            (strcmp(msg.subject, copy.subject) != 0 || msg.id_len != copy.id_len ||
             memcmp(msg.id, copy.id, msg.id_len) != 0 || msg.payload_len != copy.payload_len ||
             (msg.payload_len && memcmp(msg.payload, copy.payload, msg.payload_len) != 0) ||
             msg.payload_frame != copy.payload_frame))
            abort();
    }
    fdy_arena_destroy(&arena);
    free(slices);
    return 0;
}
