/*  kv_check.c: the open-time check of an LMDB data file (kv_check.h): an
 *  empty, short or truncated data.mdb, or a damaged meta page, is refused
 *  with a reason before LMDB maps it, and LMDB's assertions are logged
 *  before it aborts. Not for the B-trees (the store's check walks them) and
 *  not for lock.mdb, which LMDB rebuilds.
 */
#include "kv_check.h"

#include "bytes.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* LMDB 0.9's on-disk layout (mdb.c), which follows the word size W: the
 * page header is pgno (W), pad (2), flags (2), lower and upper (2 each);
 * MDB_meta after it is magic (4), version (4), address (W), mapsize (W),
 * two MDB_db of pad (4) flags (2) depth (2) and five W-sized fields
 * (branch, leaf, overflow pages, entries, root), then last_pg and txnid. */
#define S_W            ((size_t) sizeof(size_t))
#define S_PAGE_HEADER  (S_W + 8)
#define S_OFF_FLAGS    (S_W + 2)
#define S_META_MAGIC   0
#define S_META_VERSION 4
#define S_META_MAPSIZE (8 + S_W)
#define S_META_DBS     (8 + 2 * S_W)
#define S_DB_SIZE      (8 + 5 * S_W)
#define S_DB_ROOT      (8 + 4 * S_W)
#define S_META_LAST_PG (S_META_DBS + 2 * S_DB_SIZE)
#define S_META_TXNID   (S_META_LAST_PG + S_W)
#define S_META_SIZE    (S_META_TXNID + S_W)
#define S_READ_SIZE    (S_PAGE_HEADER + S_META_SIZE)

#define S_P_META       0x08
#define S_MAGIC        0xBEEFC0DEu
#define S_DATA_VERSION 1u /* MDB_DATA_VERSION of every 0.9 release */
#define S_PAGE_MIN     512u
#define S_PAGE_MAX     65536u
#define S_NO_PAGE      ((uint64_t) -1) /* P_INVALID: an empty tree's root */

#define S_WHAT_TO_DO "restore a backup (docs/operations.md: Recovering a damaged store)"

typedef struct {
    uint32_t flags;
    uint64_t pgno;
    uint32_t magic;
    uint32_t version;
    uint32_t page_size;
    uint64_t map_size;
    uint64_t roots[2];
    uint64_t last_page;
    uint64_t txnid;
} s_meta_t;

static uint64_t
s_word(const uint8_t *p)
{
    return S_W == 8 ? fdy_bytes_get_le64(p) : fdy_bytes_get_le32(p);
}

static void
s_meta_parse(const uint8_t *page, s_meta_t *m)
{
    const uint8_t *meta = page + S_PAGE_HEADER;
    m->pgno = s_word(page);
    m->flags = fdy_bytes_get_le16(page + S_OFF_FLAGS);
    m->magic = fdy_bytes_get_le32(meta + S_META_MAGIC);
    m->version = fdy_bytes_get_le32(meta + S_META_VERSION);
    m->map_size = s_word(meta + S_META_MAPSIZE);
    m->page_size = fdy_bytes_get_le32(meta + S_META_DBS); /* the free DB's md_pad */
    for (size_t i = 0; i < 2; i++)
        m->roots[i] = s_word(meta + S_META_DBS + i * S_DB_SIZE + S_DB_ROOT);
    m->last_page = s_word(meta + S_META_LAST_PG);
    m->txnid = s_word(meta + S_META_TXNID);
}

static bool
s_page_size_sane(uint32_t size)
{
    return size >= S_PAGE_MIN && size <= S_PAGE_MAX && (size & (size - 1)) == 0;
}

/* Why meta page `index` (parsed into m) is unusable, or NULL. */
static const char *
s_meta_fault(const s_meta_t *m, unsigned index, char *buf, size_t size)
{
    if (m->magic != S_MAGIC || !(m->flags & S_P_META) || m->pgno != index)
        return "not an LMDB meta page (overwritten or zeroed?)";
    if (m->version != S_DATA_VERSION) {
        snprintf(buf, size, "LMDB data version %u, not %u", m->version, S_DATA_VERSION);
        return buf;
    }
    if (!s_page_size_sane(m->page_size)) {
        snprintf(buf, size, "page size %u is not a power of two in 512..65536", m->page_size);
        return buf;
    }
    for (size_t i = 0; i < 2; i++) {
        if (m->roots[i] != S_NO_PAGE && (m->roots[i] < 2 || m->roots[i] > m->last_page)) {
            snprintf(buf, size, "root page %llu is outside pages 2..%llu",
                     (unsigned long long) m->roots[i], (unsigned long long) m->last_page);
            return buf;
        }
    }
    return NULL;
}

/* Reads the meta page at offset into m; *short_out when the file ends
 * first (m is then left alone). Returns FOUNDRY_OK or FOUNDRY_EIO. */
static foundry_err
s_meta_read(int fd, const char *path, off_t offset, s_meta_t *m, bool *short_out,
            fdy_reason_t *reason)
{
    uint8_t page[S_READ_SIZE];
    ssize_t n;
    do
        n = pread(fd, page, sizeof page, offset);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot read %s: %s", path, strerror(errno));
    *short_out = (size_t) n < sizeof page;
    if (!*short_out)
        s_meta_parse(page, m);
    return FOUNDRY_OK;
}

static foundry_err
s_check_open_file(int fd, const char *path, const char *label, fdy_kv_file_t *out,
                  fdy_reason_t *reason)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot stat %s: %s", path, strerror(errno));
    if (st.st_size == 0)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "%s is empty (0 bytes): not creating a new %s over it; restore a "
                              "backup or remove it to start empty (docs/operations.md)",
                              path, label);
    s_meta_t metas[2];
    memset(metas, 0, sizeof metas);
    bool cut = false;
    foundry_err err = s_meta_read(fd, path, 0, &metas[0], &cut, reason);
    if (err != FOUNDRY_OK)
        return err;
    /* A damaged first meta gives no page size: LMDB makes new files with
     * the system's, so the second meta is looked for there. */
    long os_page = sysconf(_SC_PAGESIZE);
    uint32_t second_at = !cut && s_page_size_sane(metas[0].page_size) ? metas[0].page_size
                         : os_page > 0                                ? (uint32_t) os_page
                                                                      : 4096u;
    if (!cut)
        err = s_meta_read(fd, path, (off_t) second_at, &metas[1], &cut, reason);
    if (err != FOUNDRY_OK)
        return err;
    /* Taken after the metas: a commit meanwhile only makes the file longer. */
    if (fstat(fd, &st) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot stat %s: %s", path, strerror(errno));
    uint64_t size = (uint64_t) st.st_size;
    if (cut || size < 2ull * second_at)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "%s is %llu bytes, shorter than its two meta pages: cut short; "
                              "%s, or remove it to start empty",
                              path, (unsigned long long) size, S_WHAT_TO_DO);
    char why[96];
    for (unsigned i = 0; i < 2; i++) {
        const char *fault = s_meta_fault(&metas[i], i, why, sizeof why);
        if (fault)
            return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "%s: meta page %u is damaged: %s; %s",
                                  path, i, fault, S_WHAT_TO_DO);
    }
    if (metas[1].page_size != metas[0].page_size)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "%s: the meta pages disagree on the page size (%u, %u); %s", path,
                              metas[0].page_size, metas[1].page_size, S_WHAT_TO_DO);
    unsigned newest = metas[1].txnid > metas[0].txnid ? 1 : 0;
    const s_meta_t *m = &metas[newest];
    uint64_t need = (m->last_page + 1) * m->page_size;
    if (m->last_page > UINT64_MAX / m->page_size - 1 || size < need)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "%s is truncated: %llu bytes, but transaction %llu uses %llu pages "
                              "of %u bytes (%llu bytes); %s",
                              path, (unsigned long long) size, (unsigned long long) m->txnid,
                              (unsigned long long) m->last_page + 1, m->page_size,
                              (unsigned long long) need, S_WHAT_TO_DO);
    if (out) {
        out->size = size;
        out->page_size = m->page_size;
        out->last_page = m->last_page;
        out->txnid = m->txnid;
        out->map_size = m->map_size;
        out->newest = newest;
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_kv_check_file(const char *dir, const char *label, fdy_kv_file_t *out, fdy_reason_t *reason)
{
    fdy_kv_file_t none = {0};
    if (out)
        *out = none;
    char path[PATH_MAX];
    if ((size_t) snprintf(path, sizeof path, "%s/data.mdb", dir) >= sizeof path)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s: data directory path too long",
                              label ? label : "kv");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return FOUNDRY_OK; /* a new environment: LMDB creates the file */
    if (fd < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot open %s: %s", path, strerror(errno));
    foundry_err err = s_check_open_file(fd, path, label ? label : "kv", out, reason);
    close(fd);
    if (err == FOUNDRY_OK && out)
        out->exists = true;
    return err;
}

/* LMDB calls this from mdb_assert_fail, then prints its own line and
 * aborts: a damaged page reached an assertion (mdb_cursor_next's
 * IS_LEAF). The path says which store; the check says what else is hit. */
static void
s_on_assert(MDB_env *env, const char *msg)
{
    const char *path = NULL;
    if (mdb_env_get_path(env, &path) != 0 || !path)
        path = "?";
    fdy_log_err("STORE-DAMAGED",
                "%s/data.mdb: LMDB assertion failed (%s): its page structure is damaged and the "
                "process aborts; check it (foundry-broker --check-store) and see "
                "docs/operations.md: Recovering a damaged store",
                path, msg);
}

void
fdy_kv_check_arm(MDB_env *env)
{
    mdb_env_set_assert(env, s_on_assert);
}
