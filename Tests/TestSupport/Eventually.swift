import Foundation
import Logging

extension Logger {
    /// A logger for tests: warnings and worse only, so test output stays readable.
    public static func test(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        return logger
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held. For waiting on
/// eventual effects, never for asserting speed.
public func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(25))
    }
    return try await condition()
}

/// ``eventually(timeout:_:)`` for a caller that holds its thread on purpose (a consumer's handler
/// standing in for a synchronous SQLite write, see `ConsumerThread`): polls without suspending.
public func eventuallyHoldingTheThread(timeout: Duration, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(25_000)
    }
    return condition()
}
