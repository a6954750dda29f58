// Filled in by the sync engine work.
