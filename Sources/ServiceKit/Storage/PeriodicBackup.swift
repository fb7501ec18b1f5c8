import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Writes a backup of the service's database into a directory every so often (``DatabaseBackup``):
/// `<service>-<UTC time>.sqlite`, whole or not at all, keeping the newest `keep`; a process whose
/// turn comes within half an interval of another's backup in the same directory skips it. The first one
/// is taken when the interval first passes; after a restart the newest file in the directory counts
/// as the last backup, so `/health` and `backup_age_seconds` tell the truth across restarts.
///
/// The copy (`VACUUM INTO`) blocks its thread for as long as the disk takes: it runs on NIO's
/// blocking pool, never on Swift's cooperative threads. A copy that fails is logged and tried again
/// at the next interval; the age keeps growing meanwhile, which is what the alert watches.
public final class PeriodicBackup: Service, Sendable {
    public struct Configuration: Sendable {
        public var directory: String
        public var interval: Duration
        public var keep: Int

        public init(directory: String, interval: Duration = .seconds(15 * 60), keep: Int = 8) {
            self.directory = directory
            self.interval = interval
            self.keep = keep
        }
    }

    /// The last backup written: when, where, how long it took.
    public struct Last: Sendable, Equatable {
        public var at: Date
        public var file: String
        public var seconds: Double?
    }

    public let configuration: Configuration
    private let service: String
    private let databasePath: String
    private let logger: Logger
    private let last = Mutex<Last?>(nil)

    public init(service: String, databasePath: String, configuration: Configuration, logger: Logger) {
        self.service = service
        self.databasePath = databasePath
        self.configuration = configuration
        self.logger = logger
        last.withLock { $0 = Self.newest(in: configuration.directory, of: service) }
    }

    public var lastBackup: Last? { last.withLock { $0 } }
    private let started = Date()

    /// The last backup's time; before the first one, the process's start: a service that never
    /// manages one shows its age growing all the same.
    public var ageCountsFrom: Date { lastBackup?.at ?? started }

    public func run() async throws {
        try FileManager.default.createDirectory(
            atPath: configuration.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                try await Task.sleep(for: configuration.interval)
                // Processes of one service share the directory (replicas on one volume): a backup
                // another one wrote within half an interval will do.
                if let newest = Self.newest(in: configuration.directory, of: service),
                    Date().timeIntervalSince(newest.at) < configuration.interval / .seconds(2)
                {
                    last.withLock { $0 = newest }
                    continue
                }
                do {
                    try await backUp()
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("backup failed, trying again in \(configuration.interval)", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Writes one backup now and removes those beyond `keep`.
    public func backUp(now: Date = Date()) async throws {
        let file = (configuration.directory as NSString).appendingPathComponent("\(service)-\(Self.stamp(now)).sqlite")
        let started = ContinuousClock.now
        let (path, logger) = (databasePath, logger)
        try await NIOThreadPool.singleton.runIfActive { try DatabaseBackup.copy(databaseAt: path, to: file) }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        last.withLock { $0 = Last(at: now, file: file, seconds: seconds) }
        logger.info("backup written", metadata: ["file": "\(file)", "seconds": "\(String(format: "%.3f", seconds))"])
        for old in Self.backups(in: configuration.directory, of: service).dropLast(configuration.keep) {
            try? FileManager.default.removeItem(atPath: (configuration.directory as NSString).appendingPathComponent(old))
        }
    }

    /// The backups of `service` in `directory`, oldest first (their names sort by time).
    static func backups(in directory: String, of service: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix(service + "-") && $0.hasSuffix(".sqlite") }.sorted()
    }

    private static func newest(in directory: String, of service: String) -> Last? {
        guard let name = backups(in: directory, of: service).last else { return nil }
        let file = (directory as NSString).appendingPathComponent(name)
        guard let modified = (try? FileManager.default.attributesOfItem(atPath: file))?[.modificationDate] as? Date else { return nil }
        return Last(at: modified, file: file, seconds: nil)
    }

    private static func stamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss.SSS'Z'"
        return formatter.string(from: date)
    }
}
