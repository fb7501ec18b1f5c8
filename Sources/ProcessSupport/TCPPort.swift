import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

public enum TCPPort {
    /// Whether something accepts connections on 127.0.0.1:`port`.
    public static func isListening(_ port: Int, host: String = "127.0.0.1") -> Bool {
        guard let socketFD = connect(to: port, host: host) else { return false }
        close(socketFD)
        return true
    }

    /// Whether a server could bind 127.0.0.1:`port` now (with `SO_REUSEADDR`, as redis-server does):
    /// nothing listens there, and no connection uses it as its own end, which a port in the
    /// ephemeral range may be while nothing listens on it.
    public static func isBindable(_ port: Int) -> Bool {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { return false }
        defer { close(socketFD) }
        var reuse: Int32 = 1
        setsockopt(socketFD, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        return bindLoopback(socketFD, port: port) != nil
    }

    /// Binds `socketFD` to 127.0.0.1:`port` (0: a port the kernel picks); the port it got, or nil.
    private static func bindLoopback(_ socketFD: Int32, port: Int) -> Int? {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { return nil }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A blocking TCP socket connected to `host`:`port` (the caller closes it), or nil.
    public static func connect(to port: Int, host: String = "127.0.0.1") -> Int32? {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(socketFD)
            return nil
        }
        return socketFD
    }

    /// Waits until `port` accepts connections, without blocking a thread; returns whether it did
    /// within `timeout`.
    public static func waitUntilListening(_ port: Int, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isListening(port) {
            guard ContinuousClock.now < deadline, (try? await Task.sleep(for: .milliseconds(20))) != nil else { return false }
        }
        return true
    }

    /// The ports ``free()`` handed out in this process.
    private static let given = Mutex(Set<Int>())

    /// A free loopback port, never one this process was given before: the kernel may hand a
    /// just-closed port 0 out again, and two servers told the same port make one fail to start.
    public static func free() throws -> Int {
        while true {
            let port = try unusedByKernel()
            if given.withLock({ $0.insert(port).inserted }) { return port }
        }
    }

    /// Asks the kernel for a free loopback port by binding port 0.
    private static func unusedByKernel() throws -> Int {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { throw ChildProcessError(description: "socket() failed") }
        defer { close(socketFD) }
        guard let port = bindLoopback(socketFD, port: 0) else { throw ChildProcessError(description: "bind() failed") }
        return port
    }
}
