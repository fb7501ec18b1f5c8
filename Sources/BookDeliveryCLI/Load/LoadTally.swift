import Foundation
import Histogram
import Synchronization

/// What `bookdelivery load` counts: every answer's status and latency, per second and in all.
/// Latency is measured from when a request was due (open loop), so a stall shows as latency of
/// the requests that waited for it instead of as requests never sent.
final class LoadTally: Sendable {
    struct Window {
        var requests = 0
        var statuses: [Int: Int] = [:]
        var connectionErrors = 0
        /// 503s that said when to come back (`Retry-After`): shed load, an open breaker.
        var retryAfter503 = 0
        var latencies = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)

        mutating func add(status: Int?, retryAfter: Bool, microseconds: UInt64) {
            requests += 1
            if status == 503 && retryAfter { retryAfter503 += 1 }
            if let status { statuses[status, default: 0] += 1 } else { connectionErrors += 1 }
            _ = latencies.record(min(microseconds, 600_000_000))
        }
    }

    private struct State {
        var total = Window()
        var second = Window()
    }

    private let state = Mutex(State())

    /// An answer with `status` (nil: no answer: a connection error or a timeout) after `latency`.
    func record(status: Int?, retryAfter: Bool = false, latency: Duration) {
        let micros = UInt64(max(1, latency / .microseconds(1)))
        state.withLock { state in
            state.total.add(status: status, retryAfter: retryAfter, microseconds: micros)
            state.second.add(status: status, retryAfter: retryAfter, microseconds: micros)
        }
    }

    /// The second that just ended, and a new one begun.
    func takeSecond() -> Window {
        state.withLock { state in
            defer { state.second = Window() }
            return state.second
        }
    }

    var total: Window { state.withLock { $0.total } }
}

extension LoadTally.Window {
    /// Answers that were neither a 5xx nor a connection error, of all requests; a 429 is an
    /// answer (the rate limiter's), reported apart.
    var availability: Double {
        guard requests > 0 else { return 100 }
        let failed = connectionErrors + statuses.filter { $0.key >= 500 }.values.reduce(0, +)
        return Double(requests - failed) / Double(requests) * 100
    }

    func milliseconds(_ percentile: Double) -> Double {
        latencies.totalCount == 0 ? 0 : Double(latencies.valueAtPercentile(percentile)) / 1000
    }

    /// The status counts, keyed by the status as text (JSON's keys).
    var statusCounts: [String: Int] { Dictionary(uniqueKeysWithValues: statuses.map { (String($0.key), $0.value) }) }

    var statusText: String {
        var parts = statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        if connectionErrors > 0 { parts.append("connection errors \(connectionErrors)") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}

/// `--json FILE`: the summary and every second.
struct LoadReport: Codable {
    struct Second: Codable {
        var second: Int
        var requests: Int
        var statuses: [String: Int]
        var connectionErrors: Int
        var p50Ms: Double
        var p99Ms: Double
    }

    var gateway: String
    var offeredRate: Double
    var durationSeconds: Double
    var requests: Int
    var availabilityPercent: Double
    var statuses: [String: Int]
    var rateLimited: Int
    /// 503 answers that carried `Retry-After`.
    var retryAfter503: Int
    var connectionErrors: Int
    var p50Ms: Double
    var p99Ms: Double
    var p999Ms: Double
    var seconds: [Second]
}
