import Foundation

public enum Executables {
    /// Finds a program on PATH (and in /usr/sbin, /usr/bin where Debian puts redis-server).
    public static func find(_ name: String) throws -> URL {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/bin:/usr/sbin:/usr/local/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw ChildProcessError(description: "\(name) not found on PATH; the test command installs it (see README)")
    }
}
