import Foundation

/// The whole box's CPU over a phase, from `/proc/stat`, and the benchmark's own (its load
/// generator's), from `getrusage`: with each process's own, what an order costs the box wherever
/// it is spent.
///
/// Why: when a closed loop keeps every core busy, the box does orders at (cores busy) ÷ (the box's
/// CPU per order). On a box where the gateway shares the cores with Rental and the load generator,
/// each CPU-second the gateway spends on an order is one Rental does not get, so its CPU per order
/// bounds the saturation ratio before any waiting does. The report shows that sum for both paths,
/// split by process, and what it would need to be through the gateway for the ratio's target, so
/// that a run says itself whether its ratio is the box's or the gateway's. Rejected: the services'
/// own CPU alone (it misses Redis, the load generator and the kernel's work counted to no process).
struct BoxCPU {
    /// CPU seconds used by anything, all cores together: all of `/proc/stat`'s `cpu` line but idle
    /// and iowait.
    var busySeconds: Double
    /// CPU seconds there were, all cores together (elapsed × cores).
    var coreSeconds: Double
    /// The benchmark process's own user and system CPU seconds.
    var ownSeconds: Double

    /// The share of the cores that was busy.
    var busyShare: Double { coreSeconds > 0 ? busySeconds / coreSeconds : 0 }

    /// The counters so far; subtract two readings for a phase.
    static func now() -> BoxCPU {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let own =
            Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest time is
        // already in user and nice).
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = stat.split(separator: "\n").first, line.hasPrefix("cpu ")
        else { return BoxCPU(busySeconds: 0, coreSeconds: 0, ownSeconds: own) }
        let values = line.split(separator: " ").dropFirst().prefix(8).compactMap { Double($0) }
        guard values.count == 8 else { return BoxCPU(busySeconds: 0, coreSeconds: 0, ownSeconds: own) }
        let total = values.reduce(0, +)
        return BoxCPU(busySeconds: (total - values[3] - values[4]) / ticks, coreSeconds: total / ticks, ownSeconds: own)
    }

    static func - (after: BoxCPU, before: BoxCPU) -> BoxCPU {
        BoxCPU(
            busySeconds: after.busySeconds - before.busySeconds, coreSeconds: after.coreSeconds - before.coreSeconds,
            ownSeconds: after.ownSeconds - before.ownSeconds)
    }
}

/// A saturation phase's CPU per order over the whole box, split by where it went.
struct BoxCPUPerOrder: Encodable {
    /// Every CPU-second on the box in the phase, per 1,000 orders.
    var boxSecondsPer1000: Double
    /// The load generator's (the benchmark process's) share of it.
    var loadGeneratorSecondsPer1000: Double
    /// The share of the cores that was busy.
    var busyShare: Double

    init(_ box: BoxCPU, orders: Int) {
        boxSecondsPer1000 = perThousand(box.busySeconds, orders: orders)
        loadGeneratorSecondsPer1000 = perThousand(box.ownSeconds, orders: orders)
        busyShare = box.busyShare
    }
}
