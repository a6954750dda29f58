import ProcessHarness
import CostModel
import Foundation
import PostgresNIO
import PostgresScratch
@testable import PostgresStore
import Synchronization
import Testing

extension PostgresStoreTests {
    @Test("a connection the server closes inside a transaction fails that attempt only: the retry commits, nothing hangs")
    func killedInsideTransaction() async throws {
        try await withStore("killtx") { store, schema in
            let cluster = try PGCluster.shared()
            let attempts = Mutex(0)
            let result: Int = try await store.transaction("a test transaction") { c in
                let attempt = attempts.withLock { $0 += 1; return $0 }
                try await PostgresCostStore.execute(c, "CREATE TABLE IF NOT EXISTS probe (n INTEGER)", logger: testLogger)
                try await PostgresCostStore.execute(c, "INSERT INTO probe VALUES (1)", logger: testLogger)
                if attempt == 1 {
                    // The server ends this very session while its transaction is open.
                    let pid = try await PostgresCostStore.rows(c, "SELECT pg_backend_pid()", logger: testLogger).first?.decode(Int32.self) ?? 0
                    _ = try cluster.psql("SELECT pg_terminate_backend(\(pid))")
                    try await eventuallyClosed(c)
                }
                try await PostgresCostStore.execute(c, "INSERT INTO probe VALUES (2)", logger: testLogger)
                return attempt
            }
            #expect(result == 2)
            // The first attempt's row died with its transaction; the second committed whole.
            #expect(try cluster.psql("SELECT string_agg(n::text, ',' ORDER BY n) FROM \(schema).probe") == "1,2\n")
        }
    }
}

/// Waits until the client has seen the server close the connection.
private func eventuallyClosed(_ c: PostgresConnection) async throws {
    try? await c.closeFuture.get()
}
