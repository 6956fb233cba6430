/*  damage.c: the data.mdb damage of damage.h. Knows LMDB 0.9's page header
 *  (pgno as a size_t, pad u16, flags u16: P_BRANCH 0x01, P_LEAF 0x02) and
 *  finds a record's page through the map: LMDB hands out values that point
 *  into it, and the map is page-aligned. Tests only.
 */
#include "damage.h"

#include "store_messages.h"
#include "store_streams.h"
#include "store_table.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_OFF_FLAGS (sizeof(size_t) + 2)
#define S_P_BRANCH  0x01
#define S_P_LEAF    0x02

static foundry_err
s_data_path(const char *dir, char *out, size_t size, fdy_reason_t *reason)
{
    if ((size_t) snprintf(out, size, "%s/data.mdb", dir) >= size)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "path too long");
    return FOUNDRY_OK;
}

foundry_err
fdy_damage_find_leaf(const char *data_dir, const char *stream, uint64_t seq, uint64_t *pgno_out,
                     uint32_t *page_size_out, fdy_reason_t *reason)
{
    fdy_store_opts_t opts = {.dir = data_dir, .read_only = true};
    fdy_store_t *store = NULL;
    foundry_err err = fdy_store_open(&opts, &store, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_store_stream_t *st = fdy_store_stream_find_name(store, stream);
    MDB_txn *txn = NULL;
    if (!st)
        err = fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream %s", stream);
    else
        err = fdy_kv_rtxn_begin(store->kv, &txn, reason);
    if (err == FOUNDRY_OK) {
        uint8_t key_bytes[8];
        fdy_store_msg_key(key_bytes, seq);
        MDB_val key = {sizeof key_bytes, key_bytes}, value;
        int rc = mdb_get(txn, st->dbi, &key, &value);
        uintptr_t page_size = (uintptr_t) fdy_kv_page_size(store->kv);
        const uint8_t *page = (const uint8_t *) ((uintptr_t) value.mv_data & ~(page_size - 1));
        uint16_t flags = 0;
        if (rc == 0)
            memcpy(&flags, page + S_OFF_FLAGS, sizeof flags);
        if (rc != 0)
            err = fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "stream %s seq %llu: %s", stream,
                                 (unsigned long long) seq, mdb_strerror(rc));
        else if (!(flags & S_P_LEAF))
            err = fdy_reason_set(reason, FOUNDRY_EINVAL, "seq %llu is not on a leaf page",
                                 (unsigned long long) seq);
        else {
            size_t pgno;
            memcpy(&pgno, page, sizeof pgno);
            *pgno_out = pgno;
            *page_size_out = (uint32_t) page_size;
        }
        fdy_kv_rtxn_end(store->kv, txn);
    }
    fdy_store_close(&store);
    return err;
}

foundry_err
fdy_damage_page(const char *data_dir, uint64_t pgno, uint32_t page_size, fdy_damage_page_t how,
                fdy_reason_t *reason)
{
    char path[PATH_MAX];
    foundry_err err = s_data_path(data_dir, path, sizeof path, reason);
    if (err != FOUNDRY_OK)
        return err;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "%s: %s", path, strerror(errno));
    uint8_t *page = calloc(1, page_size);
    off_t at = (off_t) (pgno * page_size);
    bool ok = page && pread(fd, page, page_size, at) == (ssize_t) page_size;
    if (ok && how == FDY_DAMAGE_LEAF_TO_BRANCH) {
        uint16_t flags;
        memcpy(&flags, page + S_OFF_FLAGS, sizeof flags);
        flags = (uint16_t) ((flags & ~S_P_LEAF) | S_P_BRANCH);
        memcpy(page + S_OFF_FLAGS, &flags, sizeof flags);
    } else if (ok && how == FDY_DAMAGE_ZERO) {
        memset(page, 0, page_size);
    } else if (ok) {
        uint64_t x = 0x9E3779B97F4A7C15ull ^ pgno;
        for (uint32_t i = 0; i < page_size; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            page[i] = (uint8_t) x;
        }
    }
    ok = ok && pwrite(fd, page, page_size, at) == (ssize_t) page_size && fsync(fd) == 0;
    int failure = errno;
    free(page);
    close(fd);
    if (!ok)
        return fdy_reason_set(reason, FOUNDRY_EIO, "damaging page %llu of %s: %s",
                              (unsigned long long) pgno, path, strerror(failure));
    return FOUNDRY_OK;
}

foundry_err
fdy_damage_truncate(const char *data_dir, unsigned percent, fdy_reason_t *reason)
{
    char path[PATH_MAX];
    foundry_err err = s_data_path(data_dir, path, sizeof path, reason);
    if (err != FOUNDRY_OK)
        return err;
    struct stat st;
    if (stat(path, &st) != 0 || truncate(path, st.st_size / 100 * (off_t) percent) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "truncating %s: %s", path, strerror(errno));
    return FOUNDRY_OK;
}

foundry_err
fdy_damage_copy_store(const char *from_dir, const char *to_dir, fdy_reason_t *reason)
{
    char from[PATH_MAX], to[PATH_MAX];
    foundry_err err = s_data_path(from_dir, from, sizeof from, reason);
    if (err == FOUNDRY_OK)
        err = s_data_path(to_dir, to, sizeof to, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (mkdir(to_dir, 0700) != 0 && errno != EEXIST)
        return fdy_reason_set(reason, FOUNDRY_EIO, "%s: %s", to_dir, strerror(errno));
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = in >= 0 && out >= 0;
    char buf[65536];
    ssize_t n = 0;
    while (ok && (n = read(in, buf, sizeof buf)) > 0)
        ok = write(out, buf, (size_t) n) == n;
    ok = ok && n == 0 && fsync(out) == 0;
    int failure = errno;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (!ok)
        return fdy_reason_set(reason, FOUNDRY_EIO, "copying %s to %s: %s", from, to,
                              strerror(failure));
    return FOUNDRY_OK;
}
