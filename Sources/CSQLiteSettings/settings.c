// sqlite3_config is variadic, which Swift cannot call: this is its one call.
#include <sqlite3.h>
#include "CSQLiteSettings.h"

int haven_sqlite_disable_memory_statistics(void) {
    // With statistics on, every allocation SQLite makes takes and releases a
    // process-wide mutex to count it; Haven never reads the counts.
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
