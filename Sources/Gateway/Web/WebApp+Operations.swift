import Bus
import Foundation
import HTTPTypes
import Hummingbird
import Identity
import NIOCore
import Primitives
import Redis
import ServiceKit
import ServiceLifecycle

/// The operator's page: streams, groups, dead letters and the pools, and the re-drive of dead
/// letters (by the service that owns them).
extension WebApp {
    func operationsPage(_ session: WebSession, _ request: Request, _ context: Context, problem: PageFailure? = nil) async throws
        -> Response
    {
        guard session.caller.role == .admin else {
            throw PageFailure(status: .forbidden, message: "Operations are for admins: sign in as an admin.")
        }
        var model = OperationsModel(
            refreshSeconds: String(Self.refreshSeconds), readAt: Timestamp.string(from: Date()), readAtText: "", groupRows: [],
            capTrimmed: "unknown", setAside: "unknown", deadLetters: [],
            hasDeadLetters: false,
            pools: Upstream.allCases.compactMap { upstream in
                api.pools[upstream].map {
                    .init(
                        name: upstream.rawValue, breaker: $0.breaker.state.rawValue, ready: $0.readyCount, instances: $0.instances.count,
                        inFlight: $0.limiter.inFlight, limit: $0.limiter.limit)
                }
            },
            rejections: GatewayMetrics.rejections.withLock { $0 }.sorted { ($0.key.reason, $0.key.pool) < ($1.key.reason, $1.key.pool) }
                .map { .init(reason: $0.key.reason, pool: $0.key.pool, count: $0.value.count) }, hasRejections: false)
        model.hasRejections = !model.rejections.isEmpty
        model.readAtText = String(model.readAt.dropFirst(11).prefix(8)) + " UTC"
        if let operations {
            do {
                let report = try await StreamsReport.read(client: operations)
                for stream in report.streams {
                    if stream.groups.isEmpty {
                        model.groupRows.append(
                            .init(stream: stream.name, length: stream.length, group: "(no groups)", consumers: "", pending: "", lag: ""))
                    }
                    for group in stream.groups {
                        model.groupRows.append(
                            .init(
                                stream: stream.name, length: stream.length, group: group.name, consumers: String(group.consumers),
                                pending: String(group.pending), lag: group.lag.map(String.init) ?? "?"))
                    }
                }
                let all = report.streams + report.deadLetters
                let capped = all.filter { $0.capTrimmed > 0 }.map { "\($0.name): \($0.capTrimmed)" }
                let setAside = all.filter { $0.setAside > 0 }.map { "\($0.name): \($0.setAside)" }
                model.capTrimmed = capped.isEmpty ? "none" : capped.joined(separator: ", ")
                model.setAside = setAside.isEmpty ? "none" : setAside.joined(separator: ", ")
                for stream in report.deadLetters where stream.length > 0 {
                    let entries = try await operations.range(of: stream.name, count: 10).map { entry in
                        let fields = entry.fields ?? [:]
                        return OperationsModel.DeadLetterStream.Entry(
                            id: entry.id, type: fields["type"] ?? "?", error: fields["dead.error"] ?? "?",
                            attempts: fields["dead.attempts"] ?? "?")
                    }
                    model.deadLetters.append(.init(name: stream.name, length: stream.length, entries: entries))
                }
            } catch {
                model.streamsProblem = "Redis cannot be read just now: \(error)"
            }
        } else {
            model.streamsProblem = "This gateway runs without --redis: streams and dead letters are not shown."
        }
        model.hasDeadLetters = !model.deadLetters.isEmpty
        var notice = Self.notice(request)
        if let count = request.uri.queryParameters.get("redriven").flatMap({ Int($0) }),
            let stream = request.uri.queryParameters.get("stream")
        {
            let failed = request.uri.queryParameters.get("failed").flatMap { Int($0) } ?? 0
            notice = "Re-drove \(count) entries from \(stream)" + (failed > 0 ? "; \(failed) failed again and stay." : ".")
        }
        return try await render(
            Page(
                title: "Operations", template: "operations", model: model, notice: notice, problem: problem?.problem,
                refreshSeconds: String(Self.refreshSeconds), status: problem?.status ?? .ok), session: session, request)
    }

    /// Re-drives a group's dead letters: the admin's request goes to the service that owns the
    /// group, which hands them to its handler again (``DeadLetterReplay``); the gateway's own Redis
    /// user may not write a stream.
    func redrive(_ fields: FormFields, _ session: WebSession, _ request: Request, _ context: Context) async throws -> Response {
        guard session.caller.role == .admin else { throw PageFailure(status: .forbidden, message: "Only admins re-drive dead letters.") }
        guard let stream = fields.text("stream"), let source = DeadLetter.source(of: stream), Upstream(rawValue: source.group) != nil
        else {
            return try await operationsPage(
                session, request, context, problem: PageFailure(status: .badRequest, message: "That is not a dead-letter stream."))
        }
        let path = "/dead-letters/\(Self.pathEscaped(source.group))/\(Self.pathEscaped(source.stream))/redrive"
        let answer = await call(.post, path, session: session, request, context, through: .webApp)
        do {
            let outcome = try Self.decode(DeadLetterReplay.Outcome.self, answer)
            return Self.redirect(
                to: "/app/operations?redriven=\(outcome.replayed)&failed=\(outcome.failed)&stream=\(Self.queryEscaped(stream))")
        } catch let failure as PageFailure {
            return try await operationsPage(session, request, context, problem: failure)
        }
    }
}
