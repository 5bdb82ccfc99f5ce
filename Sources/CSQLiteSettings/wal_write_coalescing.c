// Gathers the WAL writes of a group commit into a few large writes.
//
// SQLite writes each WAL frame with two write calls (its 24-byte header,
// then the page), so a commit of 50 pages costs 100 pwrite syscalls before
// its fsync; on the group-commit writer those syscalls were about an eighth
// of its time. This VFS wraps the default one and, for a WAL file whose
// connection asked for it (haven_wal_coalescing_begin), gathers contiguous
// writes in memory and writes them together: when the buffer is full, when
// a write is not contiguous, and at the latest when SQLite syncs the file.
//
// Why it is safe only around a synchronous=FULL commit, and only there:
// under FULL, SQLite syncs the WAL after writing a commit's frames and
// before it publishes them in the WAL index, so no other connection (and no
// caller) can see a frame before this VFS has written it. Under NORMAL there
// is no sync, and readers would look for frames still in memory. Buffering
// starts just before COMMIT and stops at that commit's sync: anything
// SQLite writes after it (on a disk without powersafe overwrite it pads the
// WAL to a sector boundary, and writes the rest of the last frame after the
// sync) goes straight to the file, before SQLite publishes the frames. A
// sync of the WAL's header alone (when the WAL starts again) is not the
// commit's. At the end, whatever is left (only a failed commit leaves
// anything) is dropped: written later, after the write lock is released,
// it could overwrite another writer's frames.
//
// Everything else (the database file, journals, reads, locks, shared
// memory) passes straight through to the default VFS.
#include <sqlite3.h>
#include <string.h>
#include "CSQLiteSettings.h"

// The default VFS writes at most 128 KiB - 1 bytes in one call (it masks
// the size: a larger write comes back short, as a full disk); 124 KiB is
// about thirty frames, so a commit of fifty takes two writes.
#define BUFFER_BYTES (124 * 1024)
_Static_assert(BUFFER_BYTES <= 0x1ffff, "the default VFS writes at most 128 KiB - 1 bytes a call");

// The WAL's own header; frames start after it.
#define WAL_HEADER_BYTES 32

typedef struct CoalescingFile {
    sqlite3_file base;
    // The default VFS's file, in the memory right after this struct.
    sqlite3_file *real;
    // Writes are gathered only between begin and end.
    int gathering;
    unsigned char *buffer;
    int length;
    // The file offset of buffer[0].
    sqlite3_int64 start;
    // Writes made while gathering, in the current or last commit.
    int writes;
    // The end of the furthest write while gathering: past the WAL's header
    // once a frame has been written.
    sqlite3_int64 furthest;
} CoalescingFile;

static sqlite3_vfs *defaultVFS;
static sqlite3_vfs coalescingVFS;
static const sqlite3_io_methods coalescingMethods;

static int flush(CoalescingFile *file) {
    if (file->length == 0) return SQLITE_OK;
    int length = file->length;
    file->length = 0;
    file->writes++;
    return file->real->pMethods->xWrite(file->real, file->buffer, length, file->start);
}

static int coalescingClose(sqlite3_file *handle) {
    CoalescingFile *file = (CoalescingFile *)handle;
    // Nothing gathered outlives a commit, and a connection does not close
    // within one: there is nothing to write here.
    file->length = 0;
    sqlite3_free(file->buffer);
    file->buffer = 0;
    return file->real->pMethods->xClose(file->real);
}

static int coalescingRead(sqlite3_file *handle, void *data, int amount, sqlite3_int64 offset) {
    CoalescingFile *file = (CoalescingFile *)handle;
    // SQLite reads back frames of the commit it is writing (to recompute
    // checksums after a cache spill): they must be in the file first.
    if (file->length > 0 && offset < file->start + file->length && offset + amount > file->start) {
        int rc = flush(file);
        if (rc != SQLITE_OK) return rc;
    }
    return file->real->pMethods->xRead(file->real, data, amount, offset);
}

static int coalescingWrite(sqlite3_file *handle, const void *data, int amount, sqlite3_int64 offset) {
    CoalescingFile *file = (CoalescingFile *)handle;
    if (!file->gathering) return file->real->pMethods->xWrite(file->real, data, amount, offset);
    if (offset + amount > file->furthest) file->furthest = offset + amount;
    int contiguous = file->length > 0 && offset == file->start + file->length;
    if (file->length > 0 && (!contiguous || file->length + amount > BUFFER_BYTES)) {
        int rc = flush(file);
        if (rc != SQLITE_OK) return rc;
    }
    if (!file->buffer) file->buffer = sqlite3_malloc(BUFFER_BYTES);
    if (amount > BUFFER_BYTES || !file->buffer) {
        file->writes++;
        return file->real->pMethods->xWrite(file->real, data, amount, offset);
    }
    if (file->length == 0) file->start = offset;
    memcpy(file->buffer + file->length, data, (size_t)amount);
    file->length += amount;
    return SQLITE_OK;
}

static int coalescingTruncate(sqlite3_file *handle, sqlite3_int64 size) {
    CoalescingFile *file = (CoalescingFile *)handle;
    int rc = flush(file);
    return rc != SQLITE_OK ? rc : file->real->pMethods->xTruncate(file->real, size);
}

static int coalescingSync(sqlite3_file *handle, int flags) {
    CoalescingFile *file = (CoalescingFile *)handle;
    int rc = flush(file);
    if (rc != SQLITE_OK) return rc;
    // The commit's sync: SQLite may still write after it (sector padding)
    // before it publishes the frames, so those writes are not gathered.
    if (file->gathering && file->furthest > WAL_HEADER_BYTES) file->gathering = 0;
    return file->real->pMethods->xSync(file->real, flags);
}

static int coalescingFileSize(sqlite3_file *handle, sqlite3_int64 *size) {
    CoalescingFile *file = (CoalescingFile *)handle;
    int rc = flush(file);
    return rc != SQLITE_OK ? rc : file->real->pMethods->xFileSize(file->real, size);
}

static int coalescingLock(sqlite3_file *handle, int level) {
    CoalescingFile *file = (CoalescingFile *)handle;
    return file->real->pMethods->xLock(file->real, level);
}

static int coalescingUnlock(sqlite3_file *handle, int level) {
    CoalescingFile *file = (CoalescingFile *)handle;
    return file->real->pMethods->xUnlock(file->real, level);
}

static int coalescingCheckReservedLock(sqlite3_file *handle, int *result) {
    CoalescingFile *file = (CoalescingFile *)handle;
    return file->real->pMethods->xCheckReservedLock(file->real, result);
}

static int coalescingFileControl(sqlite3_file *handle, int op, void *arg) {
    CoalescingFile *file = (CoalescingFile *)handle;
    int rc = flush(file);
    return rc != SQLITE_OK ? rc : file->real->pMethods->xFileControl(file->real, op, arg);
}

static int coalescingSectorSize(sqlite3_file *handle) {
    CoalescingFile *file = (CoalescingFile *)handle;
    return file->real->pMethods->xSectorSize(file->real);
}

static int coalescingDeviceCharacteristics(sqlite3_file *handle) {
    CoalescingFile *file = (CoalescingFile *)handle;
    return file->real->pMethods->xDeviceCharacteristics(file->real);
}

// Shared memory and memory mapping belong to the database file, not the
// WAL; they pass through should SQLite ever ask the WAL for them.
static int coalescingShmMap(sqlite3_file *handle, int region, int size, int extend, void volatile **memory) {
    CoalescingFile *file = (CoalescingFile *)handle;
    if (file->real->pMethods->iVersion < 2) return SQLITE_IOERR_SHMMAP;
    return file->real->pMethods->xShmMap(file->real, region, size, extend, memory);
}

static int coalescingShmLock(sqlite3_file *handle, int offset, int count, int flags) {
    CoalescingFile *file = (CoalescingFile *)handle;
    if (file->real->pMethods->iVersion < 2) return SQLITE_IOERR_SHMLOCK;
    return file->real->pMethods->xShmLock(file->real, offset, count, flags);
}

static void coalescingShmBarrier(sqlite3_file *handle) {
    CoalescingFile *file = (CoalescingFile *)handle;
    if (file->real->pMethods->iVersion >= 2) file->real->pMethods->xShmBarrier(file->real);
}

static int coalescingShmUnmap(sqlite3_file *handle, int deleteFlag) {
    CoalescingFile *file = (CoalescingFile *)handle;
    if (file->real->pMethods->iVersion < 2) return SQLITE_OK;
    return file->real->pMethods->xShmUnmap(file->real, deleteFlag);
}

static int coalescingFetch(sqlite3_file *handle, sqlite3_int64 offset, int amount, void **pointer) {
    CoalescingFile *file = (CoalescingFile *)handle;
    *pointer = 0;
    if (file->real->pMethods->iVersion < 3) return SQLITE_OK;
    int rc = flush(file);
    return rc != SQLITE_OK ? rc : file->real->pMethods->xFetch(file->real, offset, amount, pointer);
}

static int coalescingUnfetch(sqlite3_file *handle, sqlite3_int64 offset, void *pointer) {
    CoalescingFile *file = (CoalescingFile *)handle;
    if (file->real->pMethods->iVersion < 3) return SQLITE_OK;
    return file->real->pMethods->xUnfetch(file->real, offset, pointer);
}

static const sqlite3_io_methods coalescingMethods = {
    3,
    coalescingClose,
    coalescingRead,
    coalescingWrite,
    coalescingTruncate,
    coalescingSync,
    coalescingFileSize,
    coalescingLock,
    coalescingUnlock,
    coalescingCheckReservedLock,
    coalescingFileControl,
    coalescingSectorSize,
    coalescingDeviceCharacteristics,
    coalescingShmMap,
    coalescingShmLock,
    coalescingShmBarrier,
    coalescingShmUnmap,
    coalescingFetch,
    coalescingUnfetch,
};

static int coalescingOpen(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *handle, int flags, int *outFlags) {
    (void)vfs;
    // Only WAL files are wrapped: every other file is the default VFS's own.
    if (!(flags & SQLITE_OPEN_WAL)) return defaultVFS->xOpen(defaultVFS, name, handle, flags, outFlags);
    CoalescingFile *file = (CoalescingFile *)handle;
    memset(file, 0, sizeof *file);
    file->real = (sqlite3_file *)&file[1];
    int rc = defaultVFS->xOpen(defaultVFS, name, file->real, flags, outFlags);
    // SQLite may call xClose after a failed open when pMethods is set.
    file->base.pMethods = file->real->pMethods ? &coalescingMethods : 0;
    return rc;
}

int haven_sqlite_register_wal_coalescing(void) {
    if (defaultVFS) return SQLITE_OK;
    sqlite3_vfs *found = sqlite3_vfs_find(0);
    if (!found) return SQLITE_ERROR;
    defaultVFS = found;
    // Every other method is the default VFS's, called with this struct,
    // which carries the same pAppData and mxPathname they read.
    coalescingVFS = *found;
    coalescingVFS.pNext = 0;
    coalescingVFS.zName = "haven-wal-coalescing";
    coalescingVFS.szOsFile = (int)sizeof(CoalescingFile) + found->szOsFile;
    coalescingVFS.xOpen = coalescingOpen;
    return sqlite3_vfs_register(&coalescingVFS, 1);
}

// The connection's WAL file, if this VFS opened it.
static CoalescingFile *walFile(sqlite3 *db) {
    sqlite3_file *handle = 0;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &handle) != SQLITE_OK || !handle) return 0;
    return handle->pMethods == &coalescingMethods ? (CoalescingFile *)handle : 0;
}

int haven_wal_coalescing_begin(struct sqlite3 *db) {
    CoalescingFile *file = walFile(db);
    if (!file) return 0;
    file->length = 0;
    file->writes = 0;
    file->furthest = 0;
    file->gathering = 1;
    return 1;
}

int haven_wal_coalescing_end(struct sqlite3 *db) {
    CoalescingFile *file = walFile(db);
    if (!file) return 0;
    int dropped = file->length;
    file->length = 0;
    // Already off after a commit's sync; still on after a failed commit.
    file->gathering = 0;
    return dropped;
}

int haven_wal_coalescing_last_writes(struct sqlite3 *db) {
    CoalescingFile *file = walFile(db);
    return file ? file->writes : -1;
}
