import ArgumentParser
import Hummingbird
import Logging

/// `benchmark bare-server`: a Hummingbird server with one route that does nothing, built like the
/// services' (HTTP/1.1, same release build): the most requests per second this machine serves.
struct BareServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bare-server",
        abstract: "A Hummingbird server with one empty route (GET /hello), the e2e benchmark's baseline (and its trace sink).",
        shouldDisplay: false)

    @Option(help: "HTTP port.") var port: Int

    func run() async throws {
        var logger = Logger(label: "bare-server")
        logger.logLevel = .warning
        let router = Router()
        router.get("/hello") { _, _ in "hello" }
        router.get("/ready") { _, _ in "ready" }
        // An OTLP/HTTP collector that keeps nothing: the sink of the tracing-cost phase.
        router.post("/v1/traces") { _, _ in Response(status: .ok, headers: [.contentType: "application/x-protobuf"]) }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        try await app.runService()
    }
}
