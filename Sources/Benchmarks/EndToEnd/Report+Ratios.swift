import Contracts
import Foundation

/// The targets, each a ratio to a limit measured in the same run, so that runs on boxes of any
/// speed compare (the absolute figure is printed beside it).
extension Report {
    /// Through the gateway, at least this share of the straight-to-Rental saturation rate.
    static let gatewayThroughputTarget = 0.85
    /// The gateway's CPU per order at most this share of Rental's, in the same phase.
    static let gatewayCPUTarget = 0.30
    /// At a fixed rate up to half the direct saturation: achieved share, and POST p99 against direct.
    static let achievedTarget = 0.97
    static let gatewayLatencyTarget = 2.0
    /// Under overload, the admitted orders' p99 at most this multiple of the unloaded one.
    static let overloadLatencyTarget = 2.0
    /// The slowest process's exec → ready at most this multiple of the bare server's.
    static let readyTarget = 3.0

    func ratio(_ value: Double, _ limit: Double) -> String {
        limit > 0 ? String(format: "%.2f×", value / limit) : "n/a"
    }

    func percent(_ value: Double, _ limit: Double) -> String {
        limit > 0 ? String(format: "%.0f %%", value / limit * 100) : "n/a"
    }

    func printSaturation() {
        Swift.print(
            "\nsaturation: orders/s with \(saturationConnections) connections kept busy (closed loop; after a 503, its Retry-After)")
        for run in saturation + [referenceHop].compactMap({ $0 }) {
            row(
                run.path,
                "\(number(run.ordersPerSecond)) orders/s  p50 \(ms(run.latency.p50))  p99 \(ms(run.latency.p99))  "
                    + "consumers caught up \(String(format: "%.2f", run.consumersCaughtUpSeconds)) s after: "
                    + "\(number(run.completedPerSecond)) orders/s done\(failures(run.failures))")
        }
        guard let direct = saturation.first, let gateway = saturation.dropFirst().first else { return }
        row(
            "  straight, against the parts' limits",
            "\(percent(direct.ordersPerSecond, baselines.bareHummingbird)) of the bare Hummingbird route's requests/s, "
                + "\(percent(direct.ordersPerSecond, baselines.sqliteCommitsFull)) of SQLite's serial FULL commits/s")
        row(
            "  through the gateway, against straight",
            "\(percent(gateway.completedPerSecond, direct.completedPerSecond)) of the orders done per second  "
                + "target >= \(Int(Self.gatewayThroughputTarget * 100)) % (of those taken: \(percent(gateway.ordersPerSecond, direct.ordersPerSecond)))"
        )
        let (gatewayCPU, rentalCPU) = (gateway.cpuSecondsPer1000Orders["gateway"] ?? 0, gateway.cpuSecondsPer1000Orders["rental"] ?? 0)
        row(
            "  gateway's CPU per order, against Rental's",
            String(format: "%.2f vs %.2f s per 1,000 orders: ", gatewayCPU, rentalCPU) + percent(gatewayCPU, rentalCPU)
                + "  target <= \(Int(Self.gatewayCPUTarget * 100)) %")
        // The gateway serves each order as a server and forwards it as a client: two exchanges.
        row(
            "  two bare exchanges, against Rental's",
            String(format: "%.2f s per 1,000: ", 2 * baselines.bareCPUSecondsPer1000)
                + percent(2 * baselines.bareCPUSecondsPer1000, rentalCPU)
                + " (the gateway's floor in this HTTP stack)")
        printReferenceHop(direct: direct, gateway: gateway)
        printBoxCPU(direct: direct, gateway: gateway)
    }

    /// HAProxy's hop against straight, and the gateway's against HAProxy's: the gap any hop leaves
    /// on this box, and the part of the gateway's that is its own (``ReferenceProxy``).
    func printReferenceHop(direct: Saturation, gateway: Saturation) {
        guard let reference = referenceHop else { return }
        let (proxyCPU, rentalCPU) = (reference.cpuSecondsPer1000Orders["haproxy"] ?? 0, reference.cpuSecondsPer1000Orders["rental"] ?? 0)
        row(
            "  through HAProxy, against straight",
            "\(percent(reference.completedPerSecond, direct.completedPerSecond)) of the orders done per second "
                + "(a hop that only forwards, on this box)")
        row(
            "  HAProxy's CPU per order, against Rental's",
            String(format: "%.2f vs %.2f s per 1,000 orders: ", proxyCPU, rentalCPU) + percent(proxyCPU, rentalCPU))
        row(
            "  the gateway against HAProxy",
            "\(percent(gateway.completedPerSecond, reference.completedPerSecond)) of its orders done per second; CPU per order "
                + ratio(gateway.cpuSecondsPer1000Orders["gateway"] ?? 0, proxyCPU) + " its")
    }

    /// Where each saturation phase's orders spent the box's CPU ("no process": the kernel's work
    /// counted to none, and whatever else ran), and what the throughput target needs it to be
    /// through the gateway, on a box whose cores the gateway shares (``BoxCPU``).
    func printBoxCPU(direct: Saturation, gateway: Saturation) {
        let reference = referenceHop.map { [("through HAProxy", $0)] } ?? []
        for (label, run) in [("straight", direct), ("through", gateway)] + reference {
            let parts = run.cpuSecondsPer1000Orders.filter { $0.value >= 0.005 }.sorted { $0.value > $1.value }
            let rest = run.box.boxSecondsPer1000 - run.box.loadGeneratorSecondsPer1000 - run.cpuSecondsPer1000Orders.values.reduce(0, +)
            let split =
                parts.map { "\($0.key) \(String(format: "%.2f", $0.value))" }
                + [String(format: "load generator %.2f", run.box.loadGeneratorSecondsPer1000), String(format: "no process %.2f", rest)]
            row(
                "  the box's CPU per order, \(label)",
                String(format: "%.2f s per 1,000 (", run.box.boxSecondsPer1000) + split.joined(separator: ", ")
                    + String(format: "); cores busy %.0f %%", run.box.busyShare * 100))
        }
        guard direct.box.boxSecondsPer1000 > 0, gateway.box.boxSecondsPer1000 > 0, direct.box.busyShare > 0 else { return }
        // On each path, orders/s = cores busy ÷ CPU per order.
        let cpuFactor = direct.box.boxSecondsPer1000 / gateway.box.boxSecondsPer1000
        let busyFactor = gateway.box.busyShare / direct.box.busyShare
        row(
            "  what the box's CPU allows through",
            percent(cpuFactor * busyFactor, 1)
                + String(format: " of straight (CPU per order ×%.2f, cores busy ×%.2f)", cpuFactor, busyFactor))
        // What the throughput target needs the box's CPU per order through the gateway to be, and
        // what of it was the gateway's: the rest grows too (less batching at a lower rate).
        let gatewayCPU = gateway.cpuSecondsPer1000Orders["gateway"] ?? 0
        row(
            "  for \(Int(Self.gatewayThroughputTarget * 100)) %",
            String(
                format: "the box at <= %.2f s per 1,000 through; it was the gateway's %.2f + the rest's %.2f (straight: %.2f)",
                direct.box.boxSecondsPer1000 * busyFactor / Self.gatewayThroughputTarget, gatewayCPU,
                gateway.box.boxSecondsPer1000 - gatewayCPU, direct.box.boxSecondsPer1000))
    }

    func printFixedRates() {
        let services = ServiceNames.all + ["gateway"]
        let direct = saturation.first?.completedPerSecond ?? 0
        for fixed in fixedRates {
            Swift.print(
                "\n\(number(fixed.rate)) orders/s (\(percent(fixed.rate, direct)) of the straight saturation done) \(fixed.path) "
                    + "(open loop, \(fixed.connections) connections each, achieved \(number(fixed.achievedRate))/s)")
            for (route, latency) in fixed.routes.sorted(by: { $0.key > $1.key }) {
                row("  \(route)", latencyText(latency))
            }
            for (effect, latency) in fixed.effects.sorted(by: { $0.key < $1.key }) {
                row("  \(effect)", latency.map(latencyText) ?? "no events")
            }
            row(
                "  CPU seconds per 1,000 orders",
                services.compactMap { name in fixed.cpuSecondsPer1000Orders[name].map { "\(name) \(String(format: "%.2f", $0))" } }
                    .joined(separator: ", "))
            row(
                "  peak RSS MiB",
                services.compactMap { name in fixed.peakMiB[name].map { "\(name) \(String(format: "%.1f", $0))" } }.joined(separator: ", ")
                    + "  target <= 40")
            if !fixed.failures.isEmpty { Swift.print(failures(fixed.failures)) }
            guard fixed.path.contains("gateway"),
                let straight = fixedRates.first(where: { $0.rate == fixed.rate && !$0.path.contains("gateway") })
            else { continue }
            let (mine, theirs) = (fixed.routes[Workload.orderRoute]?.p99 ?? 0, straight.routes[Workload.orderRoute]?.p99 ?? 0)
            row(
                "  against straight at this rate",
                "achieved \(percent(fixed.achievedRate, fixed.rate)) of the rate (target >= \(Int(Self.achievedTarget * 100)) %), "
                    + "POST p99 \(ratio(mine, theirs)) straight's (target <= \(Self.gatewayLatencyTarget)×)")
        }
    }

    func printOverload() {
        guard let unloaded = overload.first else { return }
        Swift.print("\noverload: orders offered through the gateway at multiples of its saturation rate (open loop)")
        for run in overload {
            let reference = run.multiple == unloaded.multiple
            let fixed = run.limitFixedAt.map { ", limit fixed at \($0)" } ?? ""
            row(
                "\(String(format: "%g", run.multiple))× (\(number(run.rate))/s, \(run.connections) connections\(fixed))",
                "answered \(number(run.answeredRate))/s, taken \(number(run.admittedRate))/s  statuses "
                    + run.statuses.sorted(by: { $0.key < $1.key }).map { "\($0.key)×\($0.value)" }.joined(separator: ", "))
            row(
                "  taken: p50 \(ms(run.admitted.p50))  p99 \(ms(run.admitted.p99))",
                reference
                    ? "the unloaded reference"
                    : "p99 \(ratio(run.admitted.p99, unloaded.admitted.p99)) unloaded's  "
                        + (run.limitFixedAt == nil
                            ? "target <= \(Self.overloadLatencyTarget)×" : "what no limit gets below under this load here"))
            if !reference && run.limitFixedAt == nil {
                // No server in this stack answers faster than the bare route with the whole box: an
                // open loop offered near it queues in the sockets whatever the gateway turns away.
                row(
                    "  offered, against the bare route",
                    "\(percent(run.rate, baselines.bareHummingbird)) of the requests/s a bare Hummingbird route answers on this box")
            }
            if let inside = run.insideRental, let unloadedInside = unloaded.insideRental {
                row(
                    "  of which in Rental: p50 \(ms(inside.p50))  p99 \(ms(inside.p99))",
                    reference ? "its unloaded reference" : "p99 \(ratio(inside.p99, unloadedInside.p99)) unloaded's")
            }
            if let limit = run.rentalLimit {
                let probes =
                    run.rentalProbes.count == 2 ? "; probes in this run: \(run.rentalProbes[0]) taken, \(run.rentalProbes[1]) refused" : ""
                row(
                    "  limit on Rental's pool at the end: \(Int(limit))",
                    (run.rentalNoLoadLatency.map { "learnt against a no-load latency of \(ms($0)) (its last probe)" } ?? "not probed")
                        + probes)
            }
            if run.shed.count > 0 {
                row(
                    "  turned away (503): p50 \(ms(run.shed.p50))  p99 \(ms(run.shed.p99))",
                    "\(run.shedWithRetryAfter) of \(run.shed.count) with Retry-After")
            }
        }
    }
}
