#ifndef HAVEN_CSQLITESETTINGS_H
#define HAVEN_CSQLITESETTINGS_H

struct sqlite3;

/// Turns off SQLite's process-wide memory statistics. Returns SQLite's
/// result code: SQLITE_OK, or SQLITE_MISUSE once SQLite has initialized
/// (the setting only takes effect before the first connection opens).
int haven_sqlite_disable_memory_statistics(void);

/// Makes the WAL-write-coalescing VFS (wal_write_coalescing.c) the default:
/// the default VFS's own behaviour for every file until a connection asks
/// for coalescing. Once per process; returns SQLite's result code.
int haven_sqlite_register_wal_coalescing(void);

/// From now until haven_wal_coalescing_end, the connection's WAL writes are
/// gathered and written when SQLite syncs the WAL. Call only right before
/// COMMIT of a transaction on a connection with synchronous=FULL. Returns 1
/// if the connection's WAL is the coalescing VFS's (0: nothing changes).
int haven_wal_coalescing_begin(struct sqlite3 *db);

/// Right after that COMMIT returned or failed: stops gathering and drops
/// what is still gathered, which only a failed commit leaves. Returns the
/// number of bytes dropped.
int haven_wal_coalescing_end(struct sqlite3 *db);

/// The writes to the WAL file made while gathering, in the connection's
/// current or last coalesced commit (-1: its WAL is not coalescing).
int haven_wal_coalescing_last_writes(struct sqlite3 *db);

#endif
