import ArgumentParser
import Foundation
import ProcessSupport

#if canImport(Glibc)
    import Glibc
#endif

/// HAProxy in front of Rental, doing nothing but forward: what an established proxy's hop costs on
/// this box, measured in the same run as the gateway's.
///
/// Why: the gateway's saturation target is a ratio to straight-to-Rental, but on a box whose cores
/// the proxy shares with Rental and the load generator, part of the gap is any hop's, not this
/// gateway's. A proxy that checks no token, keeps no limit and counts nothing shows how much: the
/// gateway against it is the part that is ours. Rejected: nginx (Debian's package starts a site on
/// port 80 as it installs; HAProxy's starts with no listener at all); a hop written here (it would
/// measure our own HTTP stack twice, not what the field does).
///
/// One thread, as the gateway has one event loop on a box of fewer than 8 cores (`--event-loops`);
/// keep-alive to Rental, as the gateway's pool does. The configuration holds no secret (Rental
/// checks each request's token itself), in the benchmark's work directory.
struct ReferenceProxy {
    let port: Int
    let process: ChildProcess

    /// The `haproxy` to use: `option` is a path, `none`, or nil for the one on PATH (nil when absent).
    static func executable(_ option: String?) throws -> String? {
        switch option {
        case "none": return nil
        case .some(let path):
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw ValidationError("no executable at --reference-proxy \(path)")
            }
            return path
        case nil: return try? Executables.find("haproxy").path
        }
    }

    /// Starts it in front of 127.0.0.1:`upstream` and waits until Rental's `/ready` answers through it.
    init(executable: String, upstream: Int, directory: URL) throws {
        port = try TCPPort.free()
        let configuration = directory.appendingPathComponent("haproxy.cfg")
        try Self.configuration(port: port, upstream: upstream).write(to: configuration, atomically: true, encoding: .utf8)
        // -db: in the foreground, not detached, so that it is this child (its CPU, its signals).
        process = try ChildProcess(
            executable: executable, arguments: ["-db", "-f", configuration.path],
            logFile: directory.appendingPathComponent("haproxy.log").path)
        let deadline = ContinuousClock.now + .seconds(10)
        while PlainHTTP.get(port: port, path: "/ready")?.status != 200 {
            guard process.isRunning, ContinuousClock.now < deadline else {
                stop()
                throw BenchmarkError("haproxy did not forward to Rental; see \(directory.path)/haproxy.log")
            }
            usleep(1000)
        }
    }

    static func configuration(port: Int, upstream: Int) -> String {
        """
        global
            nbthread 1
            maxconn 4096
        defaults
            mode http
            option http-keep-alive
            http-reuse always
            timeout connect 5s
            timeout client 60s
            timeout server 60s
        frontend orders
            bind 127.0.0.1:\(port)
            default_backend rental
        backend rental
            server rental 127.0.0.1:\(upstream)

        """
    }

    var cpuSeconds: Double { SystemUnderTest.cpuSeconds(pid: process.pid) }

    func stop() {
        process.signal(SIGKILL)
        process.wait()
    }
}

extension EndToEndBenchmark {
    /// The saturation phase through HAProxy in front of Rental, like the others: closed loop, orders
    /// done until the consumers caught up, CPU per process and over the box.
    func referenceSaturation(
        executable: String, system: SystemUnderTest, generator: LoadGenerator, workload: Workload
    ) async throws -> Saturation {
        let proxy = try ReferenceProxy(executable: executable, upstream: system.port("rental"), directory: system.directory)
        defer { proxy.stop() }
        var viaProxy = workload
        viaProxy.rentalPort = proxy.port
        let orders = viaProxy
        try await generator.keepOpen(port: proxy.port, count: saturationConnections)
        return try await saturationPhase(
            "through HAProxy (reference)", system: system, generator: generator, alsoCPU: { ["haproxy": proxy.cpuSeconds] },
            order: { orders.order(direct: true, intended: .now()) })
    }
}
