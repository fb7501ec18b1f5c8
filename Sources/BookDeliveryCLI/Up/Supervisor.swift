import ArgumentParser
import AsyncHTTPClient
import Foundation
import Gateway
import ProcessSupport

#if canImport(Glibc)
    import Glibc
#endif

/// `up`'s supervisor: it starts the parts, watches them, and restarts a part that exits or whose
/// `/live` fails 3 checks in a row (1 s apart, 2 s timeout each), killing it first if it is still
/// there (SIGKILL), after a backoff of 0.5 s doubling to 30 s (back to 0.5 s once it has been
/// healthy for 60 s). The rest keep serving meanwhile. With `--restart never`, a part that stops by
/// itself stops everything instead, as `up` did before it supervised.
///
/// `ctl` (``ControlServer``) changes what runs: stop, start and restart a part, scale a service,
/// replace a service's instances one by one. A part stopped with `ctl stop` stays stopped.
///
/// An actor: the control server's requests and the watch loop take turns; a probe's answer is
/// applied only if the instance is still the process it probed.
actor Supervisor {
    enum RestartPolicy: String, ExpressibleByArgument, Sendable {
        case always, never
    }

    let launches: [String: PartLaunch]
    /// The parts in the order they were given (redis-server, the services, the gateway).
    let partOrder: [String]
    let policy: RestartPolicy
    let instancesFile: String
    /// Under `up --monitoring`: where Prometheus finds what to scrape (``UpMonitoring``).
    let targetsFile: String?
    let gatewayPort: Int
    let http: HTTPClient
    /// An admin's token for the gateway's `/health`, which lists a pool's instances only to admins.
    let adminToken: @Sendable () async throws -> String
    /// Every instance, in the order it was added; touched only by the actor.
    var instances: [PartInstance] = []
    private var nextNumber: [String: Int] = [:]
    /// With `--restart never`: why `up` stops.
    private(set) var failure: String?

    init(
        launches: [PartLaunch], policy: RestartPolicy, instancesFile: String, targetsFile: String? = nil, gatewayPort: Int,
        http: HTTPClient, adminToken: @escaping @Sendable () async throws -> String
    ) {
        self.targetsFile = targetsFile
        self.adminToken = adminToken
        self.launches = Dictionary(uniqueKeysWithValues: launches.map { ($0.name, $0) })
        partOrder = launches.map(\.name)
        self.policy = policy
        self.instancesFile = instancesFile
        self.gatewayPort = gatewayPort
        self.http = http
    }

    /// Starts the first instance of `name` on `port` and waits until it listens; throws if it
    /// does not (20 s) or exits first.
    func startFirst(_ name: String, port: Int) async throws {
        let instance = newInstance(name, port: port)
        try await launch(instance)
        try await waitListening(instance)
        if launches[name]?.kind == .service || launches[name]?.kind == .gateway { try writeInstancesFile() }
    }

    /// Watches every second until cancelled, or until a part stops by itself with `--restart never`.
    func watch() async -> String? {
        while !Task.isCancelled && failure == nil {
            await tick()
            guard (try? await Task.sleep(for: .seconds(1))) != nil else { break }
        }
        return failure
    }

    /// One round: restarts that are due, exits, then every live part's checks, at once.
    func tick() async {
        for instance in instances where instance.state == .backoff {
            if let due = instance.restartAt, ContinuousClock.now >= due { await restartNow(instance) }
        }
        for instance in instances where instance.isWatched && !instance.isRunning {
            await failed(instance, "exited (\(Self.describe(instance.process)))")
        }
        // Probed at once, outside the actor; an answer counts only for the process it was about.
        let watched = instances.filter { $0.isWatched }.map { (pid: $0.process?.pid ?? 0, port: $0.port, kind: launches[$0.name]!.kind) }
        let http = self.http
        let probes = await withTaskGroup(of: (pid_t, Probe.Outcome).self) { group in
            for target in watched {
                group.addTask { (target.pid, await Probe.check(target.kind, port: target.port, http: http)) }
            }
            return await group.reduce(into: [pid_t: Probe.Outcome]()) { $0[$1.0] = $1.1 }
        }
        for instance in instances where instance.isWatched {
            guard let pid = instance.process?.pid, let outcome = probes[pid] else { continue }
            await apply(outcome, to: instance)
        }
    }

    private func apply(_ outcome: Probe.Outcome, to instance: PartInstance) async {
        switch outcome {
        case .notListening:
            guard instance.state == .starting else {
                return await liveCheckFailed(instance, "stopped listening")
            }
            if let started = instance.startedAt, ContinuousClock.now - started > .seconds(20) {
                await failed(instance, "did not listen within 20 s")
            }
        case .notLive(let why):
            await liveCheckFailed(instance, why)
        case .live(let ready):
            instance.liveFailures = 0
            instance.state = ready ? .ready : .running
            if let started = instance.startedAt, ContinuousClock.now - started >= RestartBackoff.healthyReset {
                instance.backoff = RestartBackoff.initial
            }
        }
    }

    private func liveCheckFailed(_ instance: PartInstance, _ why: String) async {
        instance.liveFailures += 1
        guard instance.liveFailures >= 3 else { return }
        await failed(instance, "failed /live 3 checks in a row (\(why))")
    }

    /// A part that exited or is wedged: killed if still there, then restarted after its backoff.
    private func failed(_ instance: PartInstance, _ reason: String) async {
        guard policy == .always else {
            failure = "\(instance.label) \(reason)"
            return
        }
        if instance.isRunning {
            instance.process?.signal(SIGKILL)
            _ = await instance.process?.exit(within: .seconds(5))
        }
        instance.state = .backoff
        instance.restartAt = .now + instance.backoff
        say("\(instance.label) \(reason): restarting it in \(Self.seconds(instance.backoff))")
        instance.backoff = RestartBackoff.next(after: instance.backoff)
    }

    private func restartNow(_ instance: PartInstance) async {
        do {
            try await launch(instance)
            instance.restarts += 1
            say("\(instance.label) restarted (pid \(instance.process.map { String($0.pid) } ?? "?"))")
        } catch {
            await failed(instance, "could not start: \(error)")
        }
    }

    // MARK: - Starting and stopping processes

    func newInstance(_ name: String, port: Int) -> PartInstance {
        let number = (nextNumber[name] ?? 0) + 1
        nextNumber[name] = number
        let instance = PartInstance(name: name, number: number, port: port)
        instances.append(instance)
        return instance
    }

    func launch(_ instance: PartInstance) async throws {
        instance.state = .starting
        instance.liveFailures = 0
        instance.restartAt = nil
        instance.process = try await launches[instance.name]!.start(instance.number, instance.port)
        instance.startedAt = .now
        instance.startedAtDate = Date()
    }

    /// Waits until `instance` listens: 20 s at most, failing at once if it exits.
    func waitListening(_ instance: PartInstance) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !TCPPort.isListening(instance.port) {
            guard instance.isRunning else { throw UpError(description: "\(instance.label) stopped while starting (its log is above)") }
            guard ContinuousClock.now < deadline else {
                throw UpError(description: "\(instance.label) did not listen on port \(instance.port) within 20 s")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        instance.state = .running
    }

    /// Waits until `instance` answers its `/ready` with 200: 20 s at most.
    func waitReady(_ instance: PartInstance) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while await Probe.status(of: "\(instance.url)/ready", http: http) != 200 {
            guard instance.isRunning else { throw UpError(description: "\(instance.label) stopped while starting (its log is above)") }
            guard ContinuousClock.now < deadline else { throw UpError(description: "\(instance.label) was not ready within 20 s") }
            try await Task.sleep(for: .milliseconds(50))
        }
        instance.state = .ready
    }

    /// SIGTERM, then SIGKILL for whatever has not stopped within 10 s.
    func terminate(_ targets: [PartInstance]) async {
        for instance in targets { instance.process?.signal(SIGTERM) }
        for instance in targets where !(await instance.process?.exit(within: .seconds(10)) ?? true) {
            say("\(instance.label) did not stop in 10 s; killing it")
            instance.process?.signal(SIGKILL)
            _ = await instance.process?.exit(within: .seconds(5))
        }
    }

    /// Stops everything: the gateway first, redis-server last.
    func stopAll() async {
        say("stopping the services...")
        for instance in instances { instance.state = .stopped }
        let rank: (PartInstance) -> Int = { [launches] in launches[$0.name]?.kind.stopRank ?? 1 }
        for group in Dictionary(grouping: instances, by: rank).sorted(by: { $0.key < $1.key }) { await terminate(group.value) }
        say("stopped")
    }

    /// The services' instances as the gateway reads them (``InstancesFile``): every instance a
    /// service has, stopped ones too (the gateway finds them refusing and steps in as it would).
    /// Under `--monitoring` also Prometheus's targets, the gateway's among them: a stopped one is
    /// kept, so that it shows as down.
    func writeInstancesFile() throws {
        var pools: [String: [String]] = [:]
        for instance in instances where launches[instance.name]?.kind == .service {
            pools[instance.name, default: []].append(instance.url)
        }
        try InstancesFile.write(pools, to: instancesFile)
        if let targetsFile {
            let scraped = instances.filter { [.service, .gateway].contains(launches[$0.name]?.kind) }.map { (job: $0.name, port: $0.port) }
            try UpMonitoring.targets(scraped).write(to: URL(fileURLWithPath: targetsFile), options: .atomic)
        }
    }

    static func describe(_ process: ChildProcess?) -> String {
        guard let status = process?.wait() else { return "never started" }
        let signal = status & 0x7f
        return signal == 0 ? "exit status \((status >> 8) & 0xff)" : "signal \(signal)"
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.1f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}

extension PartInstance {
    /// Started and meant to run: what the watch loop checks.
    var isWatched: Bool { state == .starting || state == .running || state == .ready }
}

/// Prints and flushes at once, so that our lines keep their place among the services' logs even
/// when the output goes to a file.
func say(_ text: String) {
    print(text)
    fflush(nil)
}
