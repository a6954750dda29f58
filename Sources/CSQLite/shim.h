#ifndef COSTSYNC_CSQLITE_SHIM_H
#define COSTSYNC_CSQLITE_SHIM_H
#include <sqlite3.h>

// Swift cannot pass SQLITE_TRANSIENT (a function pointer made from -1), so the
// shim names it. SQLite copies text bound with it before the call returns,
// which is what a temporary Swift string needs.
static inline sqlite3_destructor_type csqlite_transient(void) { return SQLITE_TRANSIENT; }

// sqlite3_db_config is variadic, which Swift cannot call: one wrapper per
// option we use. Without a checkpoint on close, the last connection to close
// does not take an exclusive lock to checkpoint and delete the WAL, a moment in
// which a reader (the sqlite3 shell) would get "database is locked".
static inline int csqlite_disable_checkpoint_on_close(sqlite3 *db) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
}
#endif
