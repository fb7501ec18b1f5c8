import ArgumentParser
import Foundation
import Gateway
import Identity
import LookupService
import ProcessSupport
import ServiceKit

#if canImport(Glibc)
    import Glibc
#endif

/// What `up` runs, as the supervisor starts it: redis-server (unless `--redis` names one) with a
/// user per part, each service (instance N as consumer `<name>-N`, on its own port, on the
/// service's one database), and the gateway, which follows the services' instances through
/// `instances.json` in the data folder.
struct UpParts {
    static let redisName = "redis"

    let launches: [PartLaunch]
    /// Set when `up` runs its own redis-server: the primary's port.
    let redisPort: Int?
    /// `up`'s own Redis parts in the order they start (redis-server; with replicas, they and the sentinels too).
    let redisParts: [(name: String, port: Int)]
    /// Under `--redis-replicas`.
    let redisGroup: UpRedisGroup?
    let redisDirectory: URL
    let instancesFile: String
    let operatorHint: String
    let monitoring: UpMonitoring?

    /// - Parameters:
    ///   - portsTaken: the ports the other parts will listen on: the replicas and sentinels keep off them.
    ///   - gateway: the gateway's limits, as its flags.
    ///   - backups: the periodic backups' flags, for the services with a database.
    ///   - monitoring: Prometheus and Alertmanager, under `--monitoring`.
    init(
        redis external: String?, redisPort: Int, redisReplicas: Int = 0, portsTaken: Set<Int> = [], data: URL, keys: KeyDirectory,
        gateway limits: [String], backups: [String] = [],
        monitoring: UpMonitoring?
    ) async throws {
        self.monitoring = monitoring
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let environment = ProcessInfo.processInfo.environment.merging([ParentWatch.variable: String(getpid())]) { $1 }
        redisDirectory = data.appendingPathComponent("redis")
        instancesFile = data.appendingPathComponent("instances.json").path
        let secrets = data.appendingPathComponent("secrets")
        let group =
            external == nil && redisReplicas > 0
            ? try UpRedisGroup(
                replicas: redisReplicas, primaryPort: redisPort, portsTaken: portsTaken, primaryDirectory: redisDirectory, data: data,
                secrets: secrets) : nil
        redisGroup = group
        /// Each part's Redis URL and the file its password is in (none for a Redis given with --redis).
        let redisURL: @Sendable (String) -> String = { user in
            external ?? group?.url(user: user) ?? "redis://\(user)@127.0.0.1:\(redisPort)"
        }
        /// The flags that give a part its passwords' files.
        let passwordFlags: @Sendable (String) -> [String] = { user in
            guard external == nil else { return [] }
            let file = secrets.appendingPathComponent("\(user).password").path
            return ["--redis-password-file", file] + (group.map { ["--sentinel-password-file", $0.sentinelPasswordFile] } ?? [])
        }
        var launches: [PartLaunch] = []
        if external == nil {
            try UpCommand.makePrivateDirectory(secrets)
            try UpCommand.makePrivateDirectory(redisDirectory)
            let passwords = try RedisUsers.writeFiles(in: secrets)
            let aclFile = redisDirectory.appendingPathComponent("users.acl")
            try PrivateFile.write(Data(RedisUsers.aclFile(passwords: passwords).utf8), to: aclFile.path)
            let directory = redisDirectory
            if let group {
                launches += try group.launches(aclFile: aclFile, passwords: passwords)
            } else {
                launches.append(
                    PartLaunch(name: Self.redisName, kind: .redis) { _, port in
                        try await RedisServerProcess(
                            port: port, directory: directory,
                            arguments: ["--appendonly", "yes", "--appendfsync", "everysec", "--aclfile", aclFile.path]
                        ).process
                    })
            }
        }
        self.redisPort = external == nil ? redisPort : nil
        if external != nil {
            redisParts = []
        } else if let group {
            redisParts = (group.nodes + group.sentinels).map { (name: $0.name, port: $0.port) }
        } else {
            redisParts = [(name: Self.redisName, port: redisPort)]
        }
        operatorHint = (["bookdelivery streams --redis", redisURL("operator")] + passwordFlags("operator")).joined(separator: " ")
        for (name, _) in Services.all {
            let database = data.appendingPathComponent("\(name).sqlite").path
            launches.append(
                PartLaunch(name: name, kind: .service) { number, port in
                    var arguments = [
                        // No drain: Ctrl-C on a try-out should stop at once; a redeploy takes an
                        // instance out of the gateway's pool before it stops it.
                        name, "--port", String(port), "--redis", redisURL(name), "--keys", keys.path, "--drain", "0",
                        "--db", database, "--consumer", "\(name)-\(number)",
                    ]
                    arguments += passwordFlags(name)
                    if name != LookupApplication.name { arguments += backups }  // Lookup's state lives in Redis
                    return try ChildProcess(executable: executable, arguments: arguments, environment: environment, inheritOutput: true)
                })
        }
        let instances = instancesFile
        launches.append(
            PartLaunch(name: GatewayApplication.name, kind: .gateway) { _, port in
                var arguments =
                    [
                        "gateway", "--port", String(port), "--keys", keys.path, "--drain", "0", "--instances-file", instances, "--demo",
                        "--redis", redisURL("gateway"),
                    ] + limits
                arguments += passwordFlags("gateway")
                return try ChildProcess(executable: executable, arguments: arguments, environment: environment, inheritOutput: true)
            })
        self.launches = launches + (monitoring?.launches ?? [])
    }

    /// The flags that make a service with a database back it up periodically (``PeriodicBackup``).
    static func backupFlags(every backupEvery: String, data: URL) throws -> [String] {
        guard backupEvery != "0" else { return [] }
        guard let every = DurationText.parse(backupEvery), every >= .seconds(1) else {
            throw ValidationError("--backup-every takes a duration of 1s or more, such as 15m, or 0")
        }
        return ["--backup-dir", data.appendingPathComponent("backups").path, "--backup-every", "\(every.components.seconds)s"]
    }
}
