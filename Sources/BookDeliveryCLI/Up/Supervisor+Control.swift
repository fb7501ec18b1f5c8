import AsyncHTTPClient
import Foundation
import Gateway
import ProcessSupport

/// What `ctl` asks of the supervisor. Each verb answers a sentence for the operator, or throws a
/// ``ControlError`` that says why not.
extension Supervisor {
    var names: [String] { Array(launches.keys).sorted() }

    /// Every instance, in the order the parts start (redis-server, the services, the gateway); by
    /// number within a part.
    func status() -> [InstanceStatus] {
        let order = Dictionary(uniqueKeysWithValues: partOrder.enumerated().map { ($1, $0) })
        return instances.sorted { (order[$0.name] ?? 0, $0.number) < (order[$1.name] ?? 0, $1.number) }.map(\.status)
    }

    private func part(_ name: String) throws -> PartLaunch {
        guard let launch = launches[name] else {
            throw ControlError(status: .notFound, "no part '\(name)': the parts are \(names.joined(separator: ", "))")
        }
        return launch
    }

    func stop(_ name: String) async throws -> String {
        _ = try part(name)
        let targets = instances.filter { $0.name == name && $0.state != .stopped }
        guard !targets.isEmpty else { return "\(name) is stopped already" }
        for instance in targets {
            instance.state = .stopped
            instance.restartAt = nil
        }
        await terminate(targets)
        say("\(name) stopped (ctl stop): it stays stopped until ctl start")
        return "stopped \(targets.map(\.label).joined(separator: ", "))"
    }

    func start(_ name: String) async throws -> String {
        _ = try part(name)
        let targets = instances.filter { $0.name == name && $0.state == .stopped }
        guard !targets.isEmpty else { return "\(name) is running already" }
        for instance in targets {
            try await launch(instance)
            try await waitListening(instance)
        }
        say("\(name) started (ctl start)")
        return "started \(targets.map(\.label).joined(separator: ", "))"
    }

    func restart(_ name: String) async throws -> String {
        _ = try part(name)
        let targets = instances.filter { $0.name == name }
        for instance in targets { instance.state = .stopped }
        await terminate(targets)
        for instance in targets {
            try await launch(instance)
            instance.restarts += 1
            try await waitListening(instance)
        }
        say("\(name) restarted (ctl restart)")
        return "restarted \(targets.map(\.label).joined(separator: ", "))"
    }

    /// `count` instances of a service: new ones on free ports with their own consumer names and
    /// the same database, added to the gateway's pool once they listen; the newest ones removed
    /// from the pool before they are stopped.
    func scale(_ name: String, to count: Int) async throws -> String {
        guard try part(name).kind == .service else { throw ControlError(status: .badRequest, "only a service scales, not \(name)") }
        guard (1...16).contains(count) else { throw ControlError(status: .badRequest, "a service runs 1 to 16 instances") }
        let current = instances.filter { $0.name == name }
        if count > current.count {
            var added: [PartInstance] = []
            for _ in current.count..<count {
                let instance = newInstance(name, port: try TCPPort.free())
                try await launch(instance)
                try await waitListening(instance)
                try await waitReady(instance)
                added.append(instance)
            }
            try writeInstancesFile()
            say("\(name) scaled to \(count): added \(added.map { "\($0.label) on \($0.port)" }.joined(separator: ", "))")
            return "\(name): \(count) instance\(count == 1 ? "" : "s") (added \(added.map(\.label).joined(separator: ", ")))"
        }
        let removed = Array(current.suffix(current.count - count))
        guard !removed.isEmpty else { return "\(name) has \(count) instances already" }
        try await retire(removed)
        say("\(name) scaled to \(count): removed \(removed.map(\.label).joined(separator: ", "))")
        return "\(name): \(count) instance\(count == 1 ? "" : "s") (removed \(removed.map(\.label).joined(separator: ", ")))"
    }

    /// Replaces every instance of each service, one at a time: the new one starts, and once the
    /// gateway counts it ready the old one leaves the gateway's pool and then stops, so that no
    /// request meets an instance on its way out.
    func redeploy(_ asked: [String]) async throws -> String {
        let services = asked.isEmpty ? names.filter { launches[$0]?.kind == .service } : asked
        for name in services where try part(name).kind != .service {
            throw ControlError(status: .badRequest, "only services are redeployed, not \(name)")
        }
        var replaced: [String] = []
        for name in services {
            for old in instances.filter({ $0.name == name }) {
                let new = newInstance(name, port: try TCPPort.free())
                try await launch(new)
                try await waitListening(new)
                try await waitReady(new)
                try writeInstancesFile()
                guard await gatewayCounts(new.url, in: name, ready: true) else {
                    instances.removeAll { $0 === new }
                    try writeInstancesFile()
                    await terminate([new])
                    throw ControlError(status: .serviceUnavailable, "\(new.label) did not become ready at the gateway: \(old.label) kept")
                }
                try await retire([old])
                replaced.append("\(old.label) → \(new.label)")
                say("redeploy: \(old.label) replaced by \(new.label) on \(new.port)")
            }
        }
        return "redeployed: " + replaced.joined(separator: ", ")
    }

    /// Takes `targets` out of the gateway's pool, waits until the gateway has let them go, then
    /// stops them; they are gone from the supervisor afterwards.
    private func retire(_ targets: [PartInstance]) async throws {
        instances.removeAll { instance in targets.contains { $0 === instance } }
        try writeInstancesFile()
        for target in targets { _ = await gatewayCounts(target.url, in: target.name, ready: nil) }
        for target in targets { target.state = .stopped }
        await terminate(targets)
    }

    /// Waits (10 s at most) until the gateway's pool `pool` lists `url` as `ready` (true: ready;
    /// nil: not at all). False when it did not.
    private func gatewayCounts(_ url: String, in pool: String, ready: Bool?) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let health = await gatewayHealth() {
                let member = health.pools[pool]?.members?.first { $0.url == url }
                if let ready { if member?.ready == ready { return true } } else if member == nil { return true }
            }
            guard (try? await Task.sleep(for: .milliseconds(100))) != nil else { return false }
        }
        return false
    }

    private func gatewayHealth() async -> GatewayHealth? {
        do {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(gatewayPort)/health")
            request.headers.add(name: "Authorization", value: "Bearer \(try await adminToken())")
            let response = try await http.execute(request, timeout: .seconds(2))
            let body = try await response.body.collect(upTo: 1 << 20)
            return try JSONDecoder().decode(GatewayHealth.self, from: Data(body.readableBytesView))
        } catch {
            return nil
        }
    }
}

/// A `ctl` request the supervisor turns down, with the HTTP status its answer gets.
struct ControlError: Error, CustomStringConvertible {
    enum Status: Int {
        case badRequest = 400
        case notFound = 404
        case serviceUnavailable = 503
    }
    let status: Status
    let description: String

    init(status: Status, _ description: String) {
        self.status = status
        self.description = description
    }
}
