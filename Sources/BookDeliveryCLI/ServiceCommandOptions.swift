import ArgumentParser
import Bus
import Foundation
import Logging
import Redis
import ServiceKit

/// The flags every service takes, each with its environment variable as fallback.
struct ServiceCommandOptions: ParsableArguments {
    @Option(help: "HTTP port (env PORT; default: the service's own).") var port: Int?
    @Option(help: "Address to listen on (env HOST).") var host: String?
    @Option(help: "Redis URL, redis://[user:password@]host:port[/db] (env REDIS_URL).") var redis: String?
    @Option(help: "SQLite file (env DB_PATH; default ./.data/<service>.sqlite).") var db: String?
    @Option(help: "This process's consumer name, unique per process (env CONSUMER_NAME; default host-pid).") var consumer: String?

    func resolve(service: String, defaultPort: Int) throws -> ServiceOptions {
        ServiceMetrics.bootstrap()  // before any metric is created
        let environment = ProcessInfo.processInfo.environment
        guard let port = port ?? environment["PORT"].flatMap(Int.init) ?? Optional(defaultPort), (1...65535).contains(port) else {
            throw ValidationError("--port must be from 1 to 65535")
        }
        let endpoint = try RedisOption.endpoint(flag: redis)
        let databasePath = db ?? environment["DB_PATH"] ?? "./.data/\(service).sqlite"
        let directory = URL(fileURLWithPath: databasePath).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let consumerName = consumer ?? environment["CONSUMER_NAME"] ?? StreamConsumer.Configuration.defaultConsumerName()
        var logger = Logger(label: "bookdelivery.\(service)")
        logger.logLevel = environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        logger[metadataKey: "consumer"] = "\(consumerName)"
        return ServiceOptions(
            host: host ?? environment["HOST"] ?? "127.0.0.1", port: port, redis: endpoint,
            databasePath: databasePath, consumerName: consumerName, logger: logger)
    }
}

/// Redis for the operator's commands.
struct RedisOption: ParsableArguments {
    @Option(help: "Redis URL (env REDIS_URL; default redis://127.0.0.1:6379).") var redis: String?

    func client() throws -> RedisClient {
        var logger = Logger(label: "bookdelivery")
        logger.logLevel = .error
        return RedisClient(endpoint: try Self.endpoint(flag: redis), logger: logger)
    }

    /// The `--redis` flag, else `REDIS_URL`, else the local default; a bad URL is a usage error.
    static func endpoint(flag: String?) throws -> RedisEndpoint {
        let url = flag ?? ProcessInfo.processInfo.environment["REDIS_URL"] ?? "redis://127.0.0.1:6379"
        do { return try RedisEndpoint(url: url) } catch { throw ValidationError("\(error)") }
    }
}
