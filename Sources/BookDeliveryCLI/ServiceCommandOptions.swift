import ArgumentParser
import Bus
import Foundation
import Identity
import Logging
import Redis
import ServiceKit

/// The flags every service takes, each with its environment variable as fallback.
struct ServiceCommandOptions: ParsableArguments {
    @Option(help: "HTTP port (env PORT; default: the service's own).") var port: Int?
    @Option(help: "Address to listen on (env HOST).") var host: String?
    @Option(help: "Redis URL, redis://[user@]host:port[/db] or redis-sentinel://[user@]host:port,host:port,…/MASTERNAME (env REDIS_URL).")
    var redis: String?
    @OptionGroup var redisPassword: RedisPasswordOption
    @OptionGroup var auth: AuthOptions
    @OptionGroup var drain: DrainOption
    @Option(help: "SQLite file (env DB_PATH; default <DATA_DIR>/<service>.sqlite, DATA_DIR defaulting to ./.data).") var db: String?
    @Option(
        help: ArgumentHelp(
            "full: a commit waits for the disk, an answered order survives power loss; normal: faster, an OS crash can lose the last commits (env DURABILITY; default full).",
            valueName: "full|normal"))
    var durability: String?
    @Flag(help: "One SQLite transaction per HTTP write instead of group commits, to measure what they buy.") var noGroupCommit = false
    @Option(help: "This process's consumer name, unique per process (env CONSUMER_NAME; default host-pid).") var consumer: String?
    @Option(
        help:
            "Stream entries younger than this are kept even when every group has read them, e.g. 7d, 12h, 90s (env RETENTION_AGE; default 7d)."
    )
    var retentionAge: String?
    @Option(help: "The newest this many entries of each stream are kept likewise (env RETENTION_COUNT; default 10000).")
    var retentionCount: Int?
    @Option(
        help:
            "Hard cap on a stream's length: past it the oldest entries go even if unread, loudly; 0 for none (env STREAM_CAP; default 5000000)."
    )
    var streamCap: Int?
    @Option(
        help: """
            /live answers 503 once an event loop, the consumer's or the relay's loop has made no progress for this long, \
            e.g. 10s (env LIVE_TIMEOUT; default 10s). Waiting for Redis or the disk is progress.
            """)
    var liveTimeout: String?
    @Flag(
        help: """
            Start even if the streams no longer hold all that the database lacks (a backup older than their retention): \
            what is gone is counted in a warning. Without it such a service refuses to start.
            """)
    var acceptLoss = false
    @Option(help: "Write a backup of the database into this directory periodically, 0600, the newest kept (env BACKUP_DIR; default: none).")
    var backupDir: String?
    @Option(help: "How often, e.g. 15m, 1h (env BACKUP_EVERY; default 15m).") var backupEvery: String?
    @Option(help: "How many backups to keep (env BACKUP_KEEP; default 8).") var backupKeep: Int?

    /// The options; `serving` false for a run that answers no HTTP (`lookup --rebuild`), which
    /// needs no keys.
    func resolve(service: String, defaultPort: Int, serving: Bool = true) async throws -> ServiceOptions {
        ServiceMetrics.bootstrap()  // before any metric is created
        try ServiceTracing.bootstrap(service: service)  // before any logger is made
        let environment = ProcessInfo.processInfo.environment
        guard let port = port ?? environment["PORT"].flatMap(Int.init) ?? Optional(defaultPort), (1...65535).contains(port) else {
            throw ValidationError("--port must be from 1 to 65535")
        }
        var endpoint = try RedisOption.endpoint(flag: redis)
        try redisPassword.apply(to: &endpoint)
        let databasePath = db ?? environment["DB_PATH"] ?? "\(environment["DATA_DIR"] ?? "./.data")/\(service).sqlite"
        let directory = URL(fileURLWithPath: databasePath).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let consumerName = consumer ?? environment["CONSUMER_NAME"] ?? StreamConsumer.Configuration.defaultConsumerName()
        var logger = Logger(label: "bookdelivery.\(service)")
        logger.logLevel = environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        logger[metadataKey: "consumer"] = "\(consumerName)"
        let authentication = serving ? try await auth.authentication(logger: logger) : .disabled
        var options = ServiceOptions(
            host: host ?? environment["HOST"] ?? "127.0.0.1", port: port, redis: endpoint,
            databasePath: databasePath, consumerName: consumerName, retention: try retention(environment),
            storage: StorageOptions(durability: try durability(environment), groupCommit: !noGroupCommit), authentication: authentication,
            drain: try drain.duration(), logger: logger)
        options.acceptLoss = acceptLoss
        options.backup = try backup(environment)
        if let text = liveTimeout ?? environment["LIVE_TIMEOUT"] {
            guard let timeout = DurationText.parse(text), timeout >= .seconds(1) else {
                throw ValidationError("--live-timeout takes a duration of 1s or more, such as 10s")
            }
            options.liveTimeout = timeout
        }
        return options
    }

    private func backup(_ environment: [String: String]) throws -> PeriodicBackup.Configuration? {
        guard let directory = backupDir ?? environment["BACKUP_DIR"] else {
            guard backupEvery == nil, backupKeep == nil else { throw ValidationError("--backup-every and --backup-keep need --backup-dir") }
            return nil
        }
        var configuration = PeriodicBackup.Configuration(directory: directory)
        if let text = backupEvery ?? environment["BACKUP_EVERY"] {
            guard let every = DurationText.parse(text), every >= .seconds(1) else {
                throw ValidationError("--backup-every takes a duration of 1s or more, such as 15m")
            }
            configuration.interval = every
        }
        if let keep = try backupKeep ?? environment["BACKUP_KEEP"].map(Self.number("--backup-keep")) {
            guard keep >= 1 else { throw ValidationError("--backup-keep must be 1 or more") }
            configuration.keep = keep
        }
        return configuration
    }

    private func durability(_ environment: [String: String]) throws -> StorageOptions.Durability {
        guard let text = durability ?? environment["DURABILITY"] else { return .full }
        guard let durability = StorageOptions.Durability(rawValue: text) else { throw ValidationError("--durability takes full or normal") }
        return durability
    }

    private func retention(_ environment: [String: String]) throws -> RetentionPolicy {
        var policy = RetentionPolicy()
        if let text = retentionAge ?? environment["RETENTION_AGE"] {
            guard let age = DurationText.parse(text) else {
                throw ValidationError("--retention-age takes a duration such as 7d, 12h, 30m or 90s")
            }
            policy.minimumAge = age
        }
        if let count = try retentionCount ?? environment["RETENTION_COUNT"].map(Self.number("--retention-count")) {
            guard count >= 0 else { throw ValidationError("--retention-count must be 0 or more") }
            policy.minimumCount = count
        }
        if let cap = try streamCap ?? environment["STREAM_CAP"].map(Self.number("--stream-cap")) {
            guard cap >= 0 else { throw ValidationError("--stream-cap must be 0 (no cap) or more") }
            policy.hardCap = cap == 0 ? nil : cap
        }
        return policy
    }

    private static func number(_ option: String) -> (String) throws -> Int {
        { text in
            guard let value = Int(text) else { throw ValidationError("\(option) takes a whole number, not '\(text)'") }
            return value
        }
    }
}

/// Durations as people write them: `90s`, `30m`, `12h`, `7d` (a bare number is seconds).
enum DurationText {
    static func parse(_ text: String) -> Duration? {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let last = trimmed.last else { return nil }
        let (digits, unit) = units[last].map { (String(trimmed.dropLast()), $0) } ?? (trimmed, 1)
        guard let value = Int64(digits), value >= 0, value <= Int64.max / unit else { return nil }
        return .seconds(value * unit)
    }
}

/// How long a stopping process keeps serving, not-ready, so that load balancers notice.
struct DrainOption: ParsableArguments {
    @Option(
        help:
            "On SIGTERM, answer /ready with 503 and keep serving this long before stopping, e.g. 5s (env DRAIN; default 5s; 0 to stop at once)."
    )
    var drain: String?

    func duration() throws -> Duration {
        guard let text = drain ?? ProcessInfo.processInfo.environment["DRAIN"] else { return .seconds(5) }
        guard let duration = DurationText.parse(text), duration <= .seconds(600) else {
            throw ValidationError("--drain takes a duration up to 600s, e.g. 5s or 0")
        }
        return duration
    }
}

/// How a process checks tokens: `--keys DIR` or `--no-auth`, and nothing else: without either it
/// does not start.
struct AuthOptions: ParsableArguments {
    @Option(help: "Directory with jwks.json, the public key tokens are checked with (env KEYS_DIR).") var keys: String?
    @Flag(help: "Serve without checking tokens: every request is an admin's. For tests and benchmarks only.") var noAuth = false

    func authentication(logger: Logger) async throws -> Authentication {
        let directory = keys ?? ProcessInfo.processInfo.environment["KEYS_DIR"]
        if noAuth {
            guard keys == nil else { throw ValidationError("--keys and --no-auth exclude each other") }
            logger.warning("--no-auth: serving WITHOUT checking tokens; every request acts as an admin. Never expose this process.")
            return .disabled
        }
        guard let directory else {
            throw ValidationError(
                "no keys: pass --keys DIR (or set KEYS_DIR) with the directory `bookdelivery keys --dir DIR` made, or --no-auth to serve without tokens (tests only)"
            )
        }
        do { return .tokens(try await KeyDirectory(path: directory).verifier()) } catch { throw ValidationError("\(error)") }
    }
}

/// The Redis password, and the sentinels' if they require one: read from a file (0600) or the
/// environment, never from the command line, where `ps` shows it to everyone on the machine.
struct RedisPasswordOption: ParsableArguments {
    @Option(help: "File holding the Redis user's password (env REDIS_PASSWORD_FILE; or the password itself in env REDIS_PASSWORD).")
    var redisPasswordFile: String?
    @Option(
        help: """
            With a redis-sentinel:// URL, a file holding the sentinels' own password, when they require one \
            (env SENTINEL_PASSWORD_FILE; or SENTINEL_PASSWORD).
            """)
    var sentinelPasswordFile: String?

    /// Sets the passwords on `endpoint`, where given.
    func apply(to endpoint: inout RedisEndpoint) throws {
        let environment = ProcessInfo.processInfo.environment
        if let password = try Self.secret(file: redisPasswordFile ?? environment["REDIS_PASSWORD_FILE"], or: environment["REDIS_PASSWORD"])
        {
            endpoint.password = password
        }
        let sentinelPassword = try Self.secret(
            file: sentinelPasswordFile ?? environment["SENTINEL_PASSWORD_FILE"], or: environment["SENTINEL_PASSWORD"])
        guard let sentinelPassword else { return }
        guard endpoint.sentinels != nil else {
            throw ValidationError("a sentinel password is for a redis-sentinel:// URL; the Redis URL names no sentinels")
        }
        endpoint.sentinels?.password = sentinelPassword
    }

    private static func secret(file path: String?, or value: String?) throws -> String? {
        guard let path else { return value }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("cannot read the password file \(path)")
        }
        let password = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !password.isEmpty else { throw ValidationError("the password file \(path) is empty") }
        return password
    }
}

/// Redis for the operator's commands.
struct RedisOption: ParsableArguments {
    @Option(
        help: """
            Redis URL, redis://[user@]host:port or redis-sentinel://[user@]host:port,host:port,…/MASTERNAME \
            (env REDIS_URL; default redis://127.0.0.1:6379).
            """)
    var redis: String?
    @OptionGroup var redisPassword: RedisPasswordOption

    func client() throws -> RedisClient {
        var logger = Logger(label: "bookdelivery")
        logger.logLevel = .error
        var endpoint = try Self.endpoint(flag: redis)
        try redisPassword.apply(to: &endpoint)
        return RedisClient(endpoint: endpoint, logger: logger)
    }

    /// The `--redis` flag, else `REDIS_URL`, else the local default; a bad URL is a usage error.
    static func endpoint(flag: String?) throws -> RedisEndpoint {
        let url = flag ?? ProcessInfo.processInfo.environment["REDIS_URL"] ?? "redis://127.0.0.1:6379"
        do { return try RedisEndpoint(url: url) } catch { throw ValidationError("\(error)") }
    }
}
