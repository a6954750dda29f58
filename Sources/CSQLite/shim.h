#ifndef COSTSYNC_CSQLITE_SHIM_H
#define COSTSYNC_CSQLITE_SHIM_H
#include <sqlite3.h>

// Swift cannot pass SQLITE_TRANSIENT (a function pointer made from -1), so the
// shim names it. SQLite copies text bound with it before the call returns,
// which is what a temporary Swift string needs.
static inline sqlite3_destructor_type csqlite_transient(void) { return SQLITE_TRANSIENT; }
#endif
