import ArgumentParser
import AsyncHTTPClient
import Foundation
import Identity
import NIOCore
import ServiceKit

/// `bookdelivery load`: an open-loop load client against a running gateway, as a customer base
/// would be: many customers' tokens, a mix of orders, catalogue browsing and looking at one's
/// rentals, at a fixed rate whatever the answers take (a closed loop, like siege's, slows down
/// with the system and hides a stall).
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Send an open-loop load of customers' requests to a running gateway; print each second and a summary.",
        discussion: """
            Each request is due at its time (--rate per second, for --duration); its latency counts from then. Orders carry \
            an Idempotency-Key, as a well-behaved client's do. The summary's availability is the share of requests that got \
            an answer other than a 5xx; 429s (the gateway's rate limit) are answers and are counted apart.
            """)

    @Option(help: "The gateway.") var gateway = "http://127.0.0.1:8080"
    @Option(help: "The key directory to mint customers' tokens with (its signing key).") var keys = "./.data/keys"
    @Option(help: "How many customers take turns.") var customers = 20
    @Option(help: "Requests per second, all customers together.") var rate = 50.0
    @Option(help: "How long, e.g. 30s or 2m.") var duration = "30s"
    @Option(help: "What customers do, in turn: order, browse (the catalogue), view (their rentals).") var mix = "order,browse,view"
    @Option(help: "Keep-alive connections to the gateway at most.") var connections = 64
    @Option(help: "Write the summary and every second as JSON to this file.") var json: String?
    @Option(help: "Exit 1 when availability falls below this percentage.") var requireAvailability: Double?

    enum Action: String, CaseIterable { case order, browse, view }

    func validate() throws {
        guard customers >= 1, customers <= 10_000 else { throw ValidationError("--customers is 1 to 10000") }
        guard rate > 0, rate <= 100_000 else { throw ValidationError("--rate is more than 0 and at most 100000") }
        guard connections >= 1, connections <= 1_000 else { throw ValidationError("--connections is 1 to 1000") }
        guard let length = DurationText.parse(duration), length >= .seconds(1), length <= .seconds(3600) else {
            throw ValidationError("--duration is 1s to 1h, e.g. 30s")
        }
        _ = try actions()
        guard URL(string: gateway)?.host != nil else { throw ValidationError("--gateway is a URL such as http://127.0.0.1:8080") }
    }

    func actions() throws -> [Action] {
        let actions = try mix.split(separator: ",").map { word in
            guard let action = Action(rawValue: word.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--mix takes order, browse and view, e.g. order,browse")
            }
            return action
        }
        guard !actions.isEmpty else { throw ValidationError("--mix names at least one of order, browse, view") }
        return actions
    }

    func run() async throws {
        let length = DurationText.parse(duration)!
        let actions = try actions()
        let base = gateway.hasSuffix("/") ? String(gateway.dropLast()) : gateway
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let plan = try await LoadPlan.prepare(
                gateway: base, keys: keys, customers: customers,
                orders: actions.contains(.order) ? Int(rate * Double(length / .seconds(1))) : 0,
                http: http)
            let report = await drive(plan: plan, actions: actions, length: length, http: http)
            try? await http.shutdown()
            try finish(report)
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    /// Sends the load; prints a line per second; returns the report.
    private func drive(plan: LoadPlan, actions: [Action], length: Duration, http: HTTPClient) async -> LoadReport {
        let tally = LoadTally()
        let total = Int(rate * Double(length / .seconds(1)))
        let start = ContinuousClock.now
        print(
            "load: \(total) requests at \(rate)/s for \(duration) against \(plan.gateway) (\(actions.map(\.rawValue).joined(separator: ",")))"
        )
        let rate = self.rate
        let seconds = await withTaskGroup(of: [LoadReport.Second]?.self) { group in
            group.addTask { await Self.report(tally: tally, total: total, start: start, length: length) }
            for index in 0..<total {
                let due = start + .seconds(Double(index) / rate)
                if due > .now { try? await Task.sleep(until: due) }
                let request = plan.request(index, of: actions)
                group.addTask {
                    let (status, retryAfter) = await Self.send(request, http: http)
                    tally.record(status: status, retryAfter: retryAfter, latency: .now - due)
                    return nil
                }
            }
            return await group.reduce(into: [LoadReport.Second]()) { $0 += $1 ?? [] }
        }
        let all = tally.total
        return LoadReport(
            gateway: plan.gateway, offeredRate: rate, durationSeconds: Double(length / .milliseconds(1)) / 1000, requests: all.requests,
            availabilityPercent: all.availability,
            statuses: all.statusCounts,
            rateLimited: all.statuses[429] ?? 0, retryAfter503: all.retryAfter503, connectionErrors: all.connectionErrors,
            p50Ms: all.milliseconds(50),
            p99Ms: all.milliseconds(99),
            p999Ms: all.milliseconds(99.9), seconds: seconds)
    }

    /// A line per second until every request is answered (or 30 s after the last was due).
    private static func report(tally: LoadTally, total: Int, start: ContinuousClock.Instant, length: Duration) async -> [LoadReport.Second]
    {
        var seconds: [LoadReport.Second] = []
        var second = 0
        while true {
            second += 1
            try? await Task.sleep(until: start + .seconds(second))
            let window = tally.takeSecond()
            seconds.append(
                .init(
                    second: second, requests: window.requests,
                    statuses: window.statusCounts,
                    connectionErrors: window.connectionErrors, p50Ms: window.milliseconds(50), p99Ms: window.milliseconds(99)))
            print(
                String(format: "%4ds  answers %5d  ", second, window.requests) + window.statusText
                    + String(format: "  p50 %.2f ms  p99 %.2f ms", window.milliseconds(50), window.milliseconds(99)))
            fflush(nil)
            if tally.total.requests >= total || ContinuousClock.now > start + length + .seconds(30) { break }
        }
        return seconds
    }

    /// The answer's status (nil: none) and whether it said when to come back.
    private static func send(_ request: HTTPClientRequest, http: HTTPClient) async -> (Int?, Bool) {
        do {
            let response = try await http.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 22)
            return (Int(response.status.code), response.headers.contains(name: "Retry-After"))
        } catch {
            return (nil, false)
        }
    }

    private func finish(_ report: LoadReport) throws {
        print(
            String(
                format: "\n%d requests; availability %.2f %% (answers not 5xx and no connection error); 429 (rate-limited, apart): %d",
                report.requests, report.availabilityPercent, report.rateLimited))
        print("statuses: \(report.statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        if report.connectionErrors > 0 { print("connection errors: \(report.connectionErrors)") }
        if let shed = report.statuses["503"] {
            print("503 (shed or breaker open): \(shed), of which with Retry-After: \(report.retryAfter503)")
        }
        print(
            String(
                format: "latency from each request's due time: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms", report.p50Ms, report.p99Ms,
                report.p999Ms))
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
        if let required = requireAvailability, report.availabilityPercent < required {
            throw LoadError(
                description: String(format: "availability %.2f %% is below the required %.2f %%", report.availabilityPercent, required))
        }
    }
}

struct LoadError: Error, CustomStringConvertible {
    let description: String
}
