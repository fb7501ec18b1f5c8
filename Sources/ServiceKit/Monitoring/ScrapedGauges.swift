import Prometheus
import Synchronization

/// Gauges whose values are read when Prometheus scrapes (the groups' lag from Redis, the outbox's
/// backlog from SQLite) rather than kept up to date as things happen: a reading costs a few queries
/// every 15 s instead of work on every event, and it is as fresh as the scrape.
///
/// Each reading replaces the series of the metrics it names: a series that is not in it any more (a
/// group retired, a dead-letter stream emptied and deleted) is removed from the registry instead of
/// staying at its last value. Swift-metrics' `Gauge` was not used for these: it cannot remove a
/// series.
public final class ScrapedGauges: Sendable {
    /// One value of one series.
    public struct Sample: Sendable {
        public var name: String
        public var labels: [(String, String)]
        public var value: Double

        public init(_ name: String, _ value: Double) {
            self.init(name, [], value)
        }

        public init(_ name: String, _ labels: [(String, String)], _ value: Double) {
            self.name = name
            self.labels = labels
            self.value = value
        }

        var key: String { name + "|" + labels.map { $0.0 + "=" + $0.1 }.joined(separator: ",") }
    }

    private let registry: PrometheusCollectorRegistry
    private let gauges = Mutex<[String: (name: String, gauge: Gauge)]>([:])

    public init(registry: PrometheusCollectorRegistry = ServiceMetrics.registry) {
        self.registry = registry
    }

    /// Sets each sample's gauge, and removes the series of `names` that `samples` no longer has.
    public func replace(_ names: Set<String>, with samples: [Sample]) {
        gauges.withLock { gauges in
            let keys = Set(samples.map(\.key))
            for (key, entry) in gauges where names.contains(entry.name) && !keys.contains(key) {
                registry.unregisterGauge(entry.gauge)
                gauges[key] = nil
            }
            for sample in samples {
                let gauge =
                    gauges[sample.key]?.gauge
                    ?? {
                        let made = registry.makeGauge(name: sample.name, labels: sample.labels)
                        gauges[sample.key] = (sample.name, made)
                        return made
                    }()
                gauge.set(sample.value)
            }
        }
    }
}
