import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started with `posix_spawn` and reaped with `waitpid`.
///
/// Foundation's `Process.waitUntilExit()` spins a run loop and can hang inside XCTest's async
/// set-up and tear-down on Linux; this does the two system calls and nothing else. Used by
/// `bookdelivery up` to run the services, and by the tests to run redis-server and the services.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    public let executable: String
    /// The raw wait status once the process has been reaped.
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments`; its stdout and stderr go to `logFile` (appended), or
    /// nowhere; with `inheritOutput` they go where this process's go.
    public init(
        executable: String, arguments: [String], environment: [String: String]? = nil, logFile: String? = nil,
        inheritOutput: Bool = false
    ) throws {
        self.executable = executable
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if !inheritOutput {
            posix_spawn_file_actions_addopen(&actions, 1, logFile ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        let environment = environment ?? ProcessInfo.processInfo.environment
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for entry in envp { free(entry) } }

        // A child inherits the parent's blocked and ignored signals; the test runner's threads may
        // block SIGTERM, which would make the child deaf to it. Start it with a clean slate.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw ChildProcessError(description: "cannot start \(executable): \(String(cString: strerror(result)))") }
        self.pid = pid
    }

    public func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    public var isRunning: Bool {
        exitStatus.withLock { exitStatus in
            if exitStatus != nil { return false }
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { return true }
            exitStatus = status
            return false
        }
    }

    /// Blocks the calling thread until the process ends; returns its raw wait status. For
    /// synchronous callers only: async code uses ``exit(within:)``.
    @discardableResult
    public func wait() -> Int32 {
        exitStatus.withLock { exitStatus in
            if let exitStatus { return exitStatus }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            exitStatus = status
            return status
        }
    }

    /// Waits up to `timeout` for the process to end, without blocking a thread; returns whether it did.
    public func exit(within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while isRunning {
            guard ContinuousClock.now < deadline, (try? await Task.sleep(for: .milliseconds(10))) != nil else { return !isRunning }
        }
        return true
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
}
