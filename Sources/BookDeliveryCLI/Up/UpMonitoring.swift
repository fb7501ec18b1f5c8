import Foundation
import ProcessSupport

/// `up --monitoring`: Debian's `prometheus`, scraping every instance `up` runs every 5 s with the
/// alert rules of `ops/monitoring/alerts.yml` loaded, and `prometheus-alertmanager`, which receives
/// the alerts (`up` prints them as they fire and resolve: ``AlertWatch``). Both listen on loopback
/// only and keep their data in `<data>/monitoring`.
///
/// Prometheus finds the instances in a file (`file_sd_configs`, `targets.json`) that the supervisor
/// rewrites whenever they change (``Supervisor/writeInstancesFile()``), so a `ctl scale` is scraped
/// within seconds; Prometheus notices the file by itself. Each target's job is its part's name, as
/// the rules and the dashboard expect.
struct UpMonitoring {
    static let prometheus = (name: "prometheus", port: 9090, executable: "/usr/bin/prometheus")
    static let alertmanager = (name: "alertmanager", port: 9093, executable: "/usr/bin/prometheus-alertmanager")
    static let defaultPorts = [(name: prometheus.name, port: prometheus.port), (name: alertmanager.name, port: alertmanager.port)]

    /// Whether Debian's packages are there.
    static var isInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: prometheus.executable)
            && FileManager.default.isExecutableFile(atPath: alertmanager.executable)
    }

    let targetsFile: String
    let launches: [PartLaunch]

    /// Writes both configurations; `rules` must exist (Prometheus would start without its alerts).
    init(data: URL, rules: String, prometheusPort: Int, alertmanagerPort: Int) throws {
        let rulesFile = URL(fileURLWithPath: rules).standardizedFileURL
        guard FileManager.default.fileExists(atPath: rulesFile.path) else {
            throw UpError(description: "no alert rules at \(rules): run up from the project's folder, or give --alert-rules PATH")
        }
        let directory = data.appendingPathComponent("monitoring")
        try UpCommand.makePrivateDirectory(directory)
        targetsFile = directory.appendingPathComponent("targets.json").path
        if !FileManager.default.fileExists(atPath: targetsFile) { try Data("[]".utf8).write(to: URL(fileURLWithPath: targetsFile)) }
        let prometheusConfig = directory.appendingPathComponent("prometheus.yml")
        try Data(
            """
            # Written by `bookdelivery up --monitoring` at each start.
            global:
              scrape_interval: 5s
              evaluation_interval: 5s
            rule_files:
              - \(Self.quoted(rulesFile.path))
            alerting:
              alertmanagers:
                - static_configs:
                    - targets: ["127.0.0.1:\(alertmanagerPort)"]
            scrape_configs:
              - job_name: bookdelivery
                file_sd_configs:
                  - files: [\(Self.quoted(targetsFile))]
              - job_name: prometheus
                static_configs:
                  - targets: ["127.0.0.1:\(prometheusPort)"]

            """.utf8
        ).write(to: prometheusConfig)
        let alertmanagerConfig = directory.appendingPathComponent("alertmanager.yml")
        // No receiver that sends anything: `up` reads the alerts from Alertmanager's API and prints
        // them. Put an email, chat or pager receiver here (or in a deployment's own configuration).
        try Data(
            """
            # Written by `bookdelivery up --monitoring` at each start.
            route:
              receiver: terminal
              group_by: [alertname, stream, group, job]
              group_wait: 5s
              group_interval: 30s
              repeat_interval: 4h
            receivers:
              - name: terminal

            """.utf8
        ).write(to: alertmanagerConfig)
        let (storage, alerts) = (directory.appendingPathComponent("prometheus").path, directory.appendingPathComponent("alertmanager").path)
        launches = [
            PartLaunch(name: Self.alertmanager.name, kind: .monitoring) { _, port in
                try ChildProcess(
                    executable: Self.alertmanager.executable,
                    arguments: [
                        "--config.file=\(alertmanagerConfig.path)", "--storage.path=\(alerts)", "--web.listen-address=127.0.0.1:\(port)",
                        // One Alertmanager, no cluster: it would listen on 0.0.0.0:9094 for peers.
                        "--cluster.listen-address=", "--log.level=warn",
                    ], inheritOutput: true)
            },
            PartLaunch(name: Self.prometheus.name, kind: .monitoring) { _, port in
                try ChildProcess(
                    executable: Self.prometheus.executable,
                    arguments: [
                        "--config.file=\(prometheusConfig.path)", "--storage.tsdb.path=\(storage)", "--storage.tsdb.retention.time=2d",
                        "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
                    ], inheritOutput: true)
            },
        ]
    }

    /// The targets as Prometheus's file discovery reads them: one group per part.
    static func targets(_ instances: [(job: String, port: Int)]) throws -> Data {
        let groups = Dictionary(grouping: instances, by: \.job).sorted { $0.key < $1.key }.map { job, members in
            ["targets": members.map { "127.0.0.1:\($0.port)" }.sorted(), "labels": ["job": job]] as [String: Any]
        }
        return try JSONSerialization.data(withJSONObject: groups, options: [.prettyPrinted, .sortedKeys])
    }

    private static func quoted(_ path: String) -> String {
        "\"" + path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
