import ProcessHarness
import Testing

/// The real `costsync` binary, run as a subprocess against the provider
/// simulator served from this test process over loopback HTTP.
///
/// Serialized: each test starts subprocesses that race against wall-clock
/// limits (SIGTERM within 5 s, a kill in mid-backfill), and on a small
/// machine parallel debug builds of costsync would make those timings flaky.
@Suite("costsync end to end", .serialized)
struct EndToEnd {}
