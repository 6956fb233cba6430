/*  ctl_prompt.c: the "are you sure?" of destructive commands (stream rm,
 *  consumer rm, key rm). It asks only a person at a terminal; --yes, or
 *  stdin that is not a terminal (a script, a pipe), answers for them, so
 *  scripts keep working. Not ctl_confirm.c, which waits for the broker to
 *  confirm an offline key change.
 */
#include "ctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
fdy_ctl_prompt_confirm(const fdy_ctl_args_t *args, const char *fmt, ...)
{
    if (args->yes || !isatty(STDIN_FILENO))
        return FDY_CTL_EXIT_OK;
    fputs("foundryctl: ", stderr);
    va_list list;
    va_start(list, fmt);
    vfprintf(stderr, fmt, list);
    va_end(list);
    fputs(" [y/N] ", stderr);
    fflush(stderr);
    char answer[32] = "";
    if (!fgets(answer, sizeof answer, stdin))
        answer[0] = '\0';
    answer[strcspn(answer, "\r\n")] = '\0';
    if (strcmp(answer, "y") == 0 || strcmp(answer, "Y") == 0 || strcmp(answer, "yes") == 0)
        return FDY_CTL_EXIT_OK;
    return fdy_output_fail("not confirmed: nothing was changed (--yes skips the question)");
}
