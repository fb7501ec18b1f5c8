import ArgumentParser
import Foundation
import Gateway
import ServiceKit

/// `bookdelivery config <command> [flags]`: the configuration that command would run with, from
/// its flags and the environment, secrets masked.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print the effective configuration of a command (flags, then environment, then defaults), secrets masked.",
        discussion: "e.g. `bookdelivery config rental --port 9081` or, in a container, `bookdelivery config gateway`.")

    @Argument(help: "rental, delivery, lookup, notifier or gateway.") var command: String
    @Argument(parsing: .captureForPassthrough, help: "That command's flags.") var flags: [String] = []

    func run() async throws {
        var lines: [(String, String)] = []
        if command == "gateway" {
            let gateway = try await GatewayCommand.parse(flags).resolve()
            lines = [
                ("command", "gateway"), ("host", gateway.host), ("port", String(gateway.port)),
                ("auth", Self.describe(gateway.authentication)),
                ("rate-limit", gateway.rateLimit == 0 ? "off" : "\(gateway.rateLimit)/s, burst \(gateway.burst)"),
                ("max-concurrent", "\(gateway.concurrencyLimit) per pool, waiting at most \(gateway.concurrencyWait)"),
                (
                    "concurrency-limit",
                    gateway.adaptiveLimit
                        ? "adaptive (learnt from the instances' latency, up to max-concurrent)" : "fixed at max-concurrent"
                ),
                ("loop-busy-limit", gateway.loopPressure.limit.map { "\(Int(($0 * 100).rounded())) %" } ?? "never"),
                ("drain", "\(gateway.drain)"),
                // The endpoint's description hides its password.
                ("redis", gateway.redis?.description ?? "none (the web app's live and operator's pages are off)"),
                ("redis-password", gateway.redis?.password == nil ? "none" : "set (hidden)"),
                ("demo", gateway.demoIssuer == nil ? "off" : "ON: the sign-in page hands out demo identities"),
            ]
            lines += Upstream.allCases.map { ($0.rawValue, (gateway.pools[$0] ?? []).map(\.absoluteString).joined(separator: ",")) }
        } else if let defaultPort = Services.all.first(where: { $0.name == command })?.port {
            let options = try await ServiceCommandOptions.parse(flags).resolve(service: command, defaultPort: defaultPort)
            lines = [
                ("command", command), ("host", options.host), ("port", String(options.port)),
                // The endpoint's description hides its password.
                ("redis", options.redis.description), ("redis-password", options.redis.password == nil ? "none" : "set (hidden)"),
                ("db", options.databasePath), ("consumer", options.consumerName), ("auth", Self.describe(options.authentication)),
                ("drain", "\(options.drain)"), ("retention-age", "\(options.retention.minimumAge)"),
                ("retention-count", String(options.retention.minimumCount)),
                ("stream-cap", options.retention.hardCap.map(String.init) ?? "none"),
                (
                    "backups",
                    options.backup.map { "every \($0.interval) into \($0.directory), the newest \($0.keep) kept" } ?? "none (--backup-dir)"
                ),
                ("accept-loss", options.acceptLoss ? "YES: starts even if the streams no longer reach back to the database" : "no"),
            ]
        } else {
            throw ValidationError("config takes rental, delivery, lookup, notifier or gateway")
        }
        let width = lines.map(\.0.count).max() ?? 0
        for (name, value) in lines { print(name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + value) }
    }

    private static func describe(_ authentication: Authentication) -> String {
        switch authentication {
        case .tokens: "tokens checked with the public keys of KEYS_DIR / --keys"
        case .disabled: "NONE (--no-auth)"
        }
    }
}
