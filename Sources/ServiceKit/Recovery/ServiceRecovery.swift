import Bus
import GRDB
import Logging
import Redis

extension StreamRecovery {
    /// The recovery a service runs at start, before it serves (``ServiceDefinition/recover(options:)``):
    /// on a client of its own, closed after; waiting up to `patience` for a Redis that is not
    /// reachable yet (it may be starting too); each warning logged, and the summary when there was
    /// anything to catch up.
    public static func atStart(
        service: String, routes: RecoveryRoutes, database: any DatabaseWriter, options: ServiceOptions,
        patience: Duration = .seconds(60)
    ) async throws -> RecoveryReport {
        let client = RedisClient(endpoint: options.redis, logger: options.logger)
        defer { client.close() }
        let recovery = StreamRecovery(
            service: service, routes: routes, database: database, client: client,
            configuration: Configuration(acceptLoss: options.acceptLoss))
        let deadline = ContinuousClock.now + patience
        while true {
            do {
                let report = try await recovery.run()
                for warning in report.warnings { options.logger.warning("recovery: \(warning)") }
                // A database behind the streams is news an operator must see (a restore, a lost disk).
                if report.recovered {
                    options.logger.warning("\(report.summary)")
                } else if report.markedPublished > 0 {
                    options.logger.info("\(report.summary)")
                }
                return report
            } catch  where Failure.isInfrastructure(error) && ContinuousClock.now < deadline {
                options.logger.warning(
                    "recovery: waiting for Redis to compare the database with the streams", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}
