import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Lets a service started by `bookdelivery up` stop when `up` is gone, however it went: `up`
/// passes its pid in ``variable``, and the service sends itself SIGTERM (its graceful shutdown) once
/// its parent is no longer that process. `PR_SET_PDEATHSIG` would fire when the spawning *thread*
/// ends, and Swift's pool threads come and go, so the service looks for itself, once a second.
enum ParentWatch {
    static let variable = "BOOKDELIVERY_PARENT_PID"

    static func startIfRequested() {
        guard let value = ProcessInfo.processInfo.environment[variable], let parent = pid_t(value) else { return }
        Task.detached {
            while getppid() == parent {
                try? await Task.sleep(for: .seconds(1))
            }
            kill(getpid(), SIGTERM)
        }
    }
}
