#ifndef HAVEN_CSQLITESETTINGS_H
#define HAVEN_CSQLITESETTINGS_H

/// Turns off SQLite's process-wide memory statistics. Returns SQLite's
/// result code: SQLITE_OK, or SQLITE_MISUSE once SQLite has initialized
/// (the setting only takes effect before the first connection opens).
int haven_sqlite_disable_memory_statistics(void);

#endif
