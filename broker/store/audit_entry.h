/*  audit_entry.h: one audit log entry as every part of Foundry sees it: the
 *  struct, how its texts are made safe to store and show (printable UTF-8,
 *  secret-looking argument values elided), its names, and its row in an
 *  audit.ls table. Shared by the store (store_audit.c), the broker (admin,
 *  ZAP, router, the audit service) and foundryctl; allocation-free and
 *  thread-safe (no state).
 */
#ifndef FDY_AUDIT_ENTRY_H_INCLUDED
#define FDY_AUDIT_ENTRY_H_INCLUDED

#include "codec.h"

#include <stddef.h>
#include <stdint.h>

#define FDY_AUDIT_HASH_LEN 32
/* Longest text of each field, bytes without the NUL; longer is cut. */
#define FDY_AUDIT_PRINCIPAL_MAX 63
#define FDY_AUDIT_COMMAND_MAX   63
#define FDY_AUDIT_KEY_MAX       40
#define FDY_AUDIT_PEER_MAX      63
#define FDY_AUDIT_ARGS_MAX      1023
#define FDY_AUDIT_REASON_MAX    255
/* What replaces a secret-looking argument value. */
#define FDY_AUDIT_ELIDED "<elided>"

typedef enum {
    FDY_AUDIT_ADMIN = 1,        /* an admin request and its result */
    FDY_AUDIT_AUTH_REFUSED = 2, /* a refused handshake (ZAP 400/500) or request (EAUTH) */
    FDY_AUDIT_SUPPRESSED = 3,   /* refusals over the rate limit: counted, not recorded */
    FDY_AUDIT_TRIM = 4,         /* retention removed entries from the start */
    FDY_AUDIT_DAMAGED = 255,    /* read only: a record that does not decode */
} fdy_audit_kind_t;

/* One entry. The strings are NUL-ended and printable (see
 * fdy_audit_entry_text); all of it is copied, nothing is borrowed. */
typedef struct {
    uint64_t seq;     /* set by the append */
    uint64_t time_ns; /* wall clock when it happened */
    fdy_audit_kind_t kind;
    foundry_err result; /* admin: the command's result; refusals: FOUNDRY_EAUTH */
    char principal[FDY_AUDIT_PRINCIPAL_MAX + 1]; /* who; "" when unknown */
    char command[FDY_AUDIT_COMMAND_MAX + 1];     /* "key.add"; "handshake", "request" */
    char key[FDY_AUDIT_KEY_MAX + 1];             /* key fingerprint, when known */
    char peer[FDY_AUDIT_PEER_MAX + 1];           /* peer address, when libzmq gave one */
    char args[FDY_AUDIT_ARGS_MAX + 1];           /* "k=v k=v", secrets elided */
    char reason[FDY_AUDIT_REASON_MAX + 1];       /* why it failed; "" on success */
    uint8_t prev_hash[FDY_AUDIT_HASH_LEN];       /* set by the append */
    uint8_t hash[FDY_AUDIT_HASH_LEN];            /* set by the append */
} fdy_audit_entry_t;

/* ---- building entries ------------------------------------------------------ */

/* Copies text into out (size bytes with the NUL), cut to fit at a UTF-8
 * character boundary; control characters and bytes of invalid UTF-8 become
 * '?'. text NULL: "". */
void fdy_audit_entry_text(char *out, size_t size, const char *text);

/* Joins admin args ("key=value") with single spaces into out (size bytes),
 * eliding the value of every arg that looks secret: its name mentions
 * secret, password, passwd, passphrase, token, private or credential; its
 * value mentions "secret"; or its value looks like key material (40 Z85
 * characters or 64 hex digits) under any name but "key", the one arg that
 * carries a public key (key.add). An arg that is not key=value and looks
 * secret is elided whole. Too long: cut, ending in "...". */
void fdy_audit_entry_join_args(char *out, size_t size, const char *const *args, size_t count);

/* "admin", "auth-refused", "suppressed", "trim", "damaged". Static. */
const char *fdy_audit_entry_kind_name(fdy_audit_kind_t kind);

/* "OK", "EINVAL", ... as in docs/protocol.md. Static. */
const char *fdy_audit_entry_result_name(foundry_err result);

/* ---- as a table row (audit.ls, online and offline) ---------------------------- */

/* audit.ls columns: seq time_ns kind principal key peer command args result
 * result_code reason (foundryctl shows time_ns as a UTC time). */
#define FDY_AUDIT_COLUMNS 11
extern const char *const fdy_audit_entry_columns[FDY_AUDIT_COLUMNS];
extern const fdy_col_type_t fdy_audit_entry_types[FDY_AUDIT_COLUMNS];

/* Text for the cells of one entry that are not its own strings. */
typedef struct {
    char seq[24];
    char time_ns[24];
    char result_code[24];
} fdy_audit_row_text_t;

/* Fills the FDY_AUDIT_COLUMNS cells of entry's row; they borrow from entry
 * and text, which must outlive them. */
void fdy_audit_entry_row(const fdy_audit_entry_t *entry, fdy_audit_row_text_t *text,
                         fdy_slice_t *cells);

#endif
