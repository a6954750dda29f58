import Dispatch

/// A serial executor on a dispatch queue of its own.
///
/// SQLite calls block their thread. On the cooperative pool (two threads on a
/// two-core machine) a long transaction would stall the HTTP work; on its own
/// queue it only occupies that queue's thread.
final class SerialQueueExecutor: SerialExecutor {
    private let queue: DispatchQueue

    init(label: String) { self.queue = DispatchQueue(label: label, qos: .utility) }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }
}
