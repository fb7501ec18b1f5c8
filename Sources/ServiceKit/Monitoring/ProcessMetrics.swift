import Foundation

/// The process's own figures under Prometheus's standard names (`process_resident_memory_bytes`,
/// `process_cpu_seconds_total`, `process_open_fds`, `process_start_time_seconds`), read from
/// `/proc/self` at scrape time: the dashboard's RSS and CPU per process. Nothing on macOS.
public enum ProcessMetrics {
    static let names: Set<String> = [
        "process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds", "process_start_time_seconds",
    ]

    public static func read(into gauges: ScrapedGauges) {
        gauges.replace(names, with: samples())
    }

    static func samples() -> [ScrapedGauges.Sample] {
        #if os(Linux)
            guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
                let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
            else { return [] }
            // Fields after the command's closing parenthesis (the command may hold spaces): state is
            // field 3 of stat(5), so utime (14) is index 11 here, stime 12, starttime (22) 19.
            guard let close = stat.lastIndex(of: ")") else { return [] }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
            guard fields.count > 19, let user = Double(fields[11]), let system = Double(fields[12]), let start = Double(fields[19]),
                let residentPages = statm.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
            else { return [] }
            let openFiles = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
            var samples: [ScrapedGauges.Sample] = [
                .init("process_resident_memory_bytes", residentPages * pageSize),
                .init("process_cpu_seconds_total", (user + system) / ticks),
                .init("process_open_fds", Double(openFiles)),
            ]
            if let boot = bootTime() { samples.append(.init("process_start_time_seconds", boot + start / ticks)) }
            return samples
        #else
            return []
        #endif
    }

    /// When the machine started (seconds since 1970), from `/proc/stat`'s `btime`.
    private static func bootTime() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix("btime ") }.flatMap { Double($0.dropFirst(6)) }
    }
}
