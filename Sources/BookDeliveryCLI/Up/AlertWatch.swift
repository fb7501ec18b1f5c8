import AsyncHTTPClient
import Foundation
import NIOCore

/// Under `up --monitoring`: asks Alertmanager every 5 s which alerts are active and prints those
/// that began or ended since, so that whoever broke something sees the alert fire and resolve in
/// `up`'s terminal. Nothing else reads this output.
struct AlertWatch: Sendable {
    let alertmanager: String
    let http: HTTPClient

    /// One active alert as Alertmanager's API v2 gives it, what is printed of it.
    struct Alert: Decodable, Hashable {
        var labels: [String: String]
        var annotations: [String: String]
        var fingerprint: String

        var line: String {
            let name = labels["alertname"] ?? "?"
            let place = labels.filter { !["alertname", "severity"].contains($0.key) }.sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            return "\(name) [\(labels["severity"] ?? "-")] \(place): \(annotations["summary"] ?? "")"
        }
    }

    /// Until cancelled.
    func run() async {
        var known: [String: Alert] = [:]
        while !Task.isCancelled {
            if let active = await fetch() {
                let now = Dictionary(active.map { ($0.fingerprint, $0) }) { first, _ in first }
                for (fingerprint, alert) in now where known[fingerprint] == nil { say("alert firing: \(alert.line)") }
                for (fingerprint, alert) in known where now[fingerprint] == nil { say("alert resolved: \(alert.line)") }
                known = now
            }
            guard (try? await Task.sleep(for: .seconds(5))) != nil else { return }
        }
    }

    private func fetch() async -> [Alert]? {
        do {
            let response = try await http.execute(
                HTTPClientRequest(url: "\(alertmanager)/api/v2/alerts?active=true&silenced=false&inhibited=false"), timeout: .seconds(2))
            guard response.status == .ok else { return nil }
            let body = try await response.body.collect(upTo: 4 << 20)
            return try JSONDecoder().decode([Alert].self, from: Data(buffer: body))
        } catch {
            return nil
        }
    }
}
