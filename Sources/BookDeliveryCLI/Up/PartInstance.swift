import Foundation
import ProcessSupport

/// One process `up` runs: an instance of a service, the gateway, or redis-server.
final class PartInstance {
    enum State: String, Codable, Sendable {
        /// Started, not listening yet.
        case starting
        /// Listening and live, not ready (its `/ready` says not yet, or draining).
        case running
        /// Its `/ready` answers 200.
        case ready
        /// Stopped on purpose (`ctl stop`): not restarted.
        case stopped
        /// Failed; started again once its backoff is over.
        case backoff
    }

    let name: String
    /// 1 for the first instance of a part; scaled and redeployed ones count on.
    let number: Int
    let port: Int
    var process: ChildProcess?
    var state: State = .starting
    var restarts = 0
    var startedAt: ContinuousClock.Instant?
    var startedAtDate: Date?
    /// `/live` checks failed in a row.
    var liveFailures = 0
    /// How long the next restart waits: 0.5 s, doubling to 30 s, back to 0.5 s after 60 s healthy.
    var backoff: Duration = RestartBackoff.initial
    var restartAt: ContinuousClock.Instant?

    init(name: String, number: Int, port: Int) {
        self.name = name
        self.number = number
        self.port = port
    }

    /// `rental-2`; the first instance is the part's name alone, as in `up`'s log.
    var label: String { number == 1 ? name : "\(name)-\(number)" }

    /// The instance's base URL, as the gateway's pools name it.
    var url: String { "http://127.0.0.1:\(port)" }

    var isRunning: Bool { process?.isRunning ?? false }

    var status: InstanceStatus {
        InstanceStatus(
            name: name, instance: number, pid: isRunning ? process.map { Int($0.pid) } : nil, port: port, state: state, restarts: restarts,
            uptimeSeconds: isRunning ? startedAt.map { Int((ContinuousClock.now - $0) / .seconds(1)) } : nil)
    }
}

/// One instance in `ctl status --json`.
struct InstanceStatus: Codable, Sendable, Equatable {
    var name: String
    var instance: Int
    var pid: Int?
    var port: Int
    var state: PartInstance.State
    var restarts: Int
    var uptimeSeconds: Int?
}

/// The restart backoff: 0.5 s doubling to 30 s; reset after 60 s healthy.
enum RestartBackoff {
    static let initial: Duration = .milliseconds(500)
    static let maximum: Duration = .seconds(30)
    static let healthyReset: Duration = .seconds(60)

    static func next(after delay: Duration) -> Duration { min(delay * 2, maximum) }
}
