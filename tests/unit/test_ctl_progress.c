/*  test_ctl_progress.c: `foundryctl model push`'s progress display
 *  (broker/ctl/ctl_progress.c): the line's share, sizes, rate and ETA; a
 *  log (not a terminal) gets a line per tenth and one at the end, not one
 *  per chunk; the rate counts only what this run sent, so a resumed push
 *  does not claim the held chunks' bytes as speed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ctl_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
test_ctl_progress_format(void **state)
{
    (void) state;
    char line[160];
    fdy_ctl_progress_format(line, sizeof line, "uploading", 5000000, 10000000, 4000000, 2000, 10);
    /* 4 MB in 2 s is 2 MB/s; 5 MB left take 2.5 s, shown rounded: 0:03. */
    assert_string_equal(line, "uploading  50% 5.0/10.0 MB [#####     ] 2.0 MB/s ETA 0:03");
    fdy_ctl_progress_format(line, sizeof line, "hashing", 0, 10000000, 0, 0, 0);
    assert_string_equal(line, "hashing   0% 0.0/10.0 MB");
    fdy_ctl_progress_format(line, sizeof line, "uploading", 0, 0, 0, 10, 0);
    assert_string_equal(line, "uploading 100% 0.0/0.0 MB"); /* an empty file is done */
}

static size_t
s_lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static void
test_ctl_progress_plain_lines_per_tenth(void **state)
{
    (void) state;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    fdy_ctl_progress_t bar;
    fdy_ctl_progress_init(&bar, out, false);
    /* A resumed upload: 60 of 100 chunks held; the other 40 sent one per
     * millisecond, so the 1 s rule never fires. */
    foundry_model_progress_t p = {.phase = FOUNDRY_MODEL_UPLOADING,
                                  .total_bytes = 100 * 65536u,
                                  .done_bytes = 60 * 65536u,
                                  .chunk_count = 100,
                                  .chunks_held = 60};
    fdy_ctl_progress_update(&bar, &p, 1000);
    for (int i = 1; i <= 40; i++) {
        p.chunks_sent = (size_t) i;
        p.sent_bytes = (uint64_t) i * 65536u;
        p.done_bytes = (uint64_t) (60 + i) * 65536u;
        fdy_ctl_progress_update(&bar, &p, 1000 + i);
    }
    p.phase = FOUNDRY_MODEL_PUBLISHING;
    fdy_ctl_progress_update(&bar, &p, 1041);
    fdy_ctl_progress_end(&bar);
    fclose(out);
    /* The start, the 70%, 80%, 90% and 100% tenths, then publishing. */
    if (s_lines(text) != 6)
        fail_msg("%zu lines:\n%s", s_lines(text), text);
    assert_non_null(strstr(text, "uploading  60% 3.9/6.6 MB chunks 60/100 sent 0 held 60\n"));
    assert_non_null(strstr(text, "uploading 100% 6.6/6.6 MB"));
    assert_non_null(strstr(text, "chunks 100/100 sent 40 held 60\n"));
    /* 40 chunks of 64 KiB in 40 ms: 65.5 MB/s, not the 163 MB/s the held
     * chunks would make it. */
    assert_non_null(strstr(text, "65.5 MB/s"));
    assert_non_null(strstr(text, "publishing the signed manifest\n"));
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_progress_format),
        cmocka_unit_test(test_ctl_progress_plain_lines_per_tenth),
    };
    return cmocka_run_group_tests_name("ctl_progress", tests, NULL, NULL);
}
