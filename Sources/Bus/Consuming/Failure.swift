import GRDB
import Redis

/// An error that says "not the event's fault": the handler could not reach something it needs.
/// Conform a service's own errors to it where that is what they mean.
public protocol InfrastructureFailure: Error {}

/// Sorts a handler's failure: the infrastructure's (a database locked or out of space, Redis away,
/// a timeout: trying again later works, and the event is not to blame) or the event's own (a bad
/// payload, a domain rule: only these count toward `maxAttempts` and end in the dead-letter stream).
public enum Failure {
    public static func isInfrastructure(_ error: any Error) -> Bool {
        switch error {
        case is InfrastructureFailure, is CancellationError:
            return true
        case let error as RedisError:
            return error.isConnectionProblem || error.isTemporaryRefusal || error == .closed
        case let error as DatabaseError:
            return infrastructureCodes.contains(error.resultCode)
        default:
            return false
        }
    }

    /// SQLite's answers that are about the file, the disk or other processes, not the statement.
    static let infrastructureCodes: [ResultCode] = [
        .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_IOERR, .SQLITE_FULL, .SQLITE_CANTOPEN, .SQLITE_PROTOCOL, .SQLITE_NOMEM,
        .SQLITE_READONLY, .SQLITE_INTERRUPT,
    ]
}
