import AsyncHTTPClient
import Foundation
import NIOCore
import ProcessSupport

/// How `up` starts the instances of one part.
struct PartLaunch: Sendable {
    enum Kind: Sendable {
        /// Prometheus and Alertmanager (`up --monitoring`).
        case redis, service, gateway, monitoring

        /// Stopping order: what watches first, then the gateway, redis-server last.
        var stopRank: Int {
            switch self {
            case .monitoring: 0
            case .gateway: 1
            case .service: 2
            case .redis: 3
            }
        }
    }

    let name: String
    let kind: Kind
    /// Starts instance `number` on `port`.
    let start: @Sendable (_ number: Int, _ port: Int) async throws -> ChildProcess
}

/// The supervisor's checks of one instance: listening at all, then `GET /live` and `GET /ready`
/// (2 s each) for bookdelivery's parts; listening is enough for redis-server, Prometheus and
/// Alertmanager.
enum Probe {
    enum Outcome: Sendable {
        case notListening
        case notLive(String)
        case live(ready: Bool)
    }

    static let timeout: Duration = .seconds(2)

    static func check(_ kind: PartLaunch.Kind, port: Int, http: HTTPClient) async -> Outcome {
        guard TCPPort.isListening(port) else { return .notListening }
        guard kind == .service || kind == .gateway else { return .live(ready: true) }
        let base = "http://127.0.0.1:\(port)"
        switch await status(of: base + "/live", http: http) {
        case .some(200): break
        case .some(let code): return .notLive("/live answered \(code)")
        case .none: return .notLive("/live did not answer within 2 s")
        }
        return .live(ready: await status(of: base + "/ready", http: http) == 200)
    }

    /// The status `url` answers with, or nil for none within the timeout.
    static func status(of url: String, http: HTTPClient) async -> Int? {
        do {
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: TimeAmount(timeout))
            _ = try? await response.body.collect(upTo: 1 << 20)
            return Int(response.status.code)
        } catch {
            return nil
        }
    }
}
