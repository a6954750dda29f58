import ProcessHarness
import Logging
import PostgresScratch

/// A schema name no other test uses.
func freshSchema(_ label: String) -> String {
    "t_\(label)_\(UInt32.random(in: 0...UInt32.max))"
}

let testLogger: Logger = {
    var logger = Logger(label: "costsync.tests.postgres")
    logger.logLevel = .warning
    return logger
}()
