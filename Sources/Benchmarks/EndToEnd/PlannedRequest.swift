import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import NIOPosix

/// One request for the generator: where it goes, what it is, and what to do with the answer.
struct PlannedRequest: @unchecked Sendable {  // built and used on the generator's loop
    /// For the report, e.g. `POST /rentals`.
    var route: String
    var port: Int
    var method: HTTPMethod
    var path: String
    var headers: HTTPHeaders
    var body: ByteBuffer?
    /// When the request should have gone out: latencies count from here, so a request that waited
    /// for a free connection (because the system fell behind) counts its wait. Coordinated
    /// omission, corrected.
    var intended: NIODeadline
    /// The answer's status and body, and when a 503 said to come back (`Retry-After`).
    var onAnswer: ((_ status: Int, _ body: ByteBuffer, _ retryAfter: TimeAmount?) -> Void)?
}

/// What one phase saw: a latency histogram (µs) and status counts per route, and with tracing on
/// every answer in the order they came.
struct PhaseResults {
    /// Per route, every answer but 503s.
    var latencies: [String: Histogram<UInt64>] = [:]
    /// Per route, the 503s (load shed, breaker open).
    var shedLatencies: [String: Histogram<UInt64>] = [:]
    /// Per route, the 503s that said when to come back (`Retry-After`).
    var retryAfter: [String: Int] = [:]
    var statuses: [String: [Int: Int]] = [:]
    var elapsed: Duration = .zero
    var trace: [TracedAnswer] = []

    func count(_ route: String, _ accept: (Int) -> Bool = { (200..<300).contains($0) }) -> Int {
        (statuses[route] ?? [:]).filter { accept($0.key) }.map(\.value).reduce(0, +)
    }

    var failures: [String: [Int: Int]] { statuses.mapValues { $0.filter { !(200..<300).contains($0.key) } }.filter { !$0.value.isEmpty } }
}

/// One answer as `--trace` writes it: when its request should have gone out (from the phase's
/// start), how long it took from then, and its status.
struct TracedAnswer {
    var route: String
    var intendedMicros: Int64
    var latencyMicros: UInt64
    var status: Int
}
