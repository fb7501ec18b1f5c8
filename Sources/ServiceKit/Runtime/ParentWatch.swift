import Foundation
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// Lets a service started by `bookdelivery up` stop when `up` is gone, however it went: `up`
/// passes its pid in ``variable``, and the service sends itself SIGTERM (its graceful shutdown) once
/// its parent is no longer that process. `PR_SET_PDEATHSIG` would fire when the spawning *thread*
/// ends, and Swift's pool threads come and go, so the service looks for itself, once a second.
public struct ParentWatch: Service {
    public static let variable = "BOOKDELIVERY_PARENT_PID"
    private let parent: pid_t

    /// A watch when the environment asks for one, else nil.
    public static func fromEnvironment() -> ParentWatch? {
        guard let value = ProcessInfo.processInfo.environment[variable], let parent = pid_t(value) else { return nil }
        return ParentWatch(parent: parent)
    }

    public func run() async throws {
        while getppid() == parent {
            guard (try? await Task.sleep(for: .seconds(1))) != nil, !Task.isShuttingDownGracefully else { return }
        }
        kill(getpid(), SIGTERM)
    }
}

extension ParentWatch: CustomStringConvertible {
    /// Short: see ``OutboxRelay``'s description.
    public var description: String { "ParentWatch(\(parent))" }
}
