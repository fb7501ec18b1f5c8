import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// Asks every instance's `GET /ready` each `interval` (with a timeout of the same length): an
/// instance that does not answer 200 (down, draining, its store not answering) leaves the round
/// robin until it does again.
struct HealthChecker: Service {
    let pools: [InstancePool]
    let client: HTTPClient
    let interval: Duration
    /// Looked at before each round: instances added or removed since.
    var instancesFile: InstancesFile?
    let logger: Logger

    func run() async throws {
        let byUpstream = Dictionary(uniqueKeysWithValues: pools.map { ($0.upstream, $0) })
        // Cancelled at shutdown: the sleep's CancellationError is the end of the loop, not a failure
        // (thrown, it made the gateway exit 1 on every SIGTERM).
        await cancelWhenGracefulShutdown {
            var seen = instancesFile?.modified()  // read at start already
            while !Task.isCancelled {
                if let instancesFile { seen = instancesFile.refresh(byUpstream, seen: seen, logger: logger) }
                await withTaskGroup(of: Void.self) { group in
                    for pool in pools {
                        for url in pool.instances {
                            group.addTask { pool.setReady(url, await check(url), logger: logger) }
                        }
                    }
                }
                try? await Task.sleep(for: interval)
            }
        }
    }

    private func check(_ url: URL) async -> Bool {
        var request = HTTPClientRequest(url: url.appendingPathComponent("ready").absoluteString)
        request.method = .GET
        do {
            let response = try await client.execute(request, timeout: TimeAmount(interval))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return response.status == .ok
        } catch {
            return false
        }
    }
}

extension InstancePool {
    /// Marks an instance, saying so when that changes its state.
    func setReady(_ instance: URL, _ ready: Bool, logger: Logger) {
        guard setReady(instance, ready) else { return }
        if ready {
            logger.info("instance ready again", metadata: ["pool": "\(upstream.rawValue)", "instance": "\(instance)"])
        } else {
            logger.warning(
                "instance not ready: taken out of the round robin", metadata: ["pool": "\(upstream.rawValue)", "instance": "\(instance)"])
        }
    }
}

extension HealthChecker: CustomStringConvertible {
    /// Short: see ``OutboxRelay``'s description.
    var description: String { "HealthChecker(\(pools.count) pools)" }
}
