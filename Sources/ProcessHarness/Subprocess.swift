// Child processes for the end-to-end tests of both stores (EndToEndTests,
// PostgresStoreTests): test targets cannot depend on one another, so the
// harness is a small library target of its own.
import Foundation
import Synchronization

/// Something the harness itself could not do (a missing binary, a process
/// that would not start), as opposed to a failed expectation.
public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The `costsync` executable built next to this test bundle by
/// `swift build --build-tests`: the directory of `/proc/self/exe`.
public enum CostsyncBinary {
    public static func path() throws -> String {
        let exe: String
        do {
            exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        } catch {
            throw HarnessError("cannot resolve /proc/self/exe to find the costsync binary: \(error)")
        }
        let path = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("costsync").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError("""
                no costsync executable at \(path) (next to the test bundle \(exe)); \
                build it first with `swift build --build-tests`, then `swift test --skip-build --filter EndToEndTests`
                """)
        }
        return path
    }
}

/// Collects everything a pipe delivers, on a thread of its own, so a child
/// writing a lot to stdout and stderr never blocks on a full pipe.
public final class PipeCollector: Sendable {
    private struct State {
        var data = Data()
        var finished = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    public init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData  // blocks; empty at end of file
                if chunk.isEmpty { break }
                state.withLock { $0.data.append(chunk) }
            }
            let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.finished = true
                defer { s.waiters.removeAll() }
                return s.waiters
            }
            waiters.forEach { $0.resume() }
        }
    }

    /// What arrived so far.
    public var text: String { state.withLock { String(decoding: $0.data, as: UTF8.self) } }
    public var bytes: Data { state.withLock { $0.data } }

    /// Returns once the writing end is closed by every process holding it.
    public func waitForEndOfFile() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.finished { return true }
                s.waiters.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }
}

/// How a child process ended.
public struct Termination: Sendable, Equatable {
    /// The exit status, or the signal number when `signaled`.
    public var status: Int32
    public var signaled: Bool

    public init(status: Int32, signaled: Bool) {
        self.status = status
        self.signaled = signaled
    }
}

/// A one-shot value that many tasks may await.
public final class Latch<Value: Sendable>: Sendable {
    public init() {}

    private let state = Mutex<(value: Value?, waiters: [CheckedContinuation<Value, Never>])>((nil, []))

    public func set(_ value: Value) {
        let waiters = state.withLock { s -> [CheckedContinuation<Value, Never>] in
            guard s.value == nil else { return [] }
            s.value = value
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        waiters.forEach { $0.resume(returning: value) }
    }

    public var current: Value? { state.withLock { $0.value } }

    public var value: Value {
        get async {
            await withCheckedContinuation { (c: CheckedContinuation<Value, Never>) in
                let now = state.withLock { s -> Value? in
                    if let v = s.value { return v }
                    s.waiters.append(c)
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        }
    }
}

/// What a finished `costsync` run left behind.
public struct RunResult: Sendable, CustomStringConvertible {
    public var arguments: [String]
    public var termination: Termination
    /// The harness had to SIGKILL it after its time limit.
    public var timedOut: Bool
    public var stdout: String
    public var stderr: String
    public var elapsed: Duration

    public var status: Int32 { termination.signaled ? -1 : termination.status }
    public var exitedNormally: Bool { !termination.signaled && !timedOut }
    public var output: String { stdout + "\n" + stderr }

    public var description: String {
        let how = timedOut ? "TIMED OUT and was killed"
            : termination.signaled ? "killed by signal \(termination.status)" : "exit status \(termination.status)"
        return """
            costsync \(arguments.joined(separator: " ")) — \(how) after \(elapsed)
            --- stdout ---
            \(stdout.suffix(4000))
            --- stderr ---
            \(stderr.suffix(4000))
            """
    }
}

/// A running child process with its output collected; `wait` gives the result.
public final class Subprocess: @unchecked Sendable {
    // `Process` is not Sendable; it is only touched in `init` and for its pid.
    private let process: Process
    public let arguments: [String]
    public let stdout: PipeCollector
    public let stderr: PipeCollector
    private let exit = Latch<Termination>()
    private let started = ContinuousClock.now
    public let pid: Int32

    public init(executable: String, arguments: [String], environment: [String: String], currentDirectory: URL? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let exit = self.exit
        process.terminationHandler = { p in
            exit.set(Termination(status: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal))
        }
        do {
            try process.run()
        } catch {
            throw HarnessError("cannot start \(executable): \(error)")
        }
        self.process = process
        self.arguments = arguments
        self.pid = process.processIdentifier
        self.stdout = PipeCollector(out.fileHandleForReading)
        self.stderr = PipeCollector(err.fileHandleForReading)
    }

    /// A test that stops early (a failed `#require`) must not leave a daemon behind.
    deinit {
        if exit.current == nil { kill(pid, SIGKILL) }
    }

    public var hasExited: Bool { exit.current != nil }

    public func signal(_ signal: Int32) {
        guard !hasExited else { return }
        kill(pid, signal)
    }

    /// Waits for the process to end; after `timeout` it is SIGKILLed and the
    /// result says it timed out.
    public func wait(timeout: Duration) async -> RunResult {
        let exit = self.exit
        let pid = self.pid
        let timedOut = await withTaskGroup(of: Bool.self) { group -> Bool in
            group.addTask {
                _ = await exit.value
                return false
            }
            group.addTask {
                do { try await Task.sleep(for: timeout) } catch { return false }
                return true
            }
            var killed = false
            for await fired in group {
                if fired {
                    killed = true
                    kill(pid, SIGKILL)
                } else {
                    group.cancelAll()
                    break
                }
            }
            return killed
        }
        let termination = await exit.value
        let elapsed = ContinuousClock.now - started
        await stdout.waitForEndOfFile()
        await stderr.waitForEndOfFile()
        return RunResult(arguments: arguments, termination: termination, timedOut: timedOut,
                         stdout: stdout.text, stderr: stderr.text, elapsed: elapsed)
    }
}

/// Polls `condition` until it holds or `timeout` passes; errors count as "not yet".
public func eventually(timeout: Duration, every interval: Duration = .milliseconds(25),
                _ condition: () throws -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? condition()) == true { return true }
        try? await Task.sleep(for: interval)
    }
    return (try? condition()) == true
}
