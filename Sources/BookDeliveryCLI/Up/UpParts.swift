import Foundation
import Gateway
import Identity
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
    /// Set when `up` runs its own redis-server.
    let redisPort: Int?
    let redisDirectory: URL
    let instancesFile: String
    let operatorHint: String
    let monitoring: UpMonitoring?

    /// - Parameters:
    ///   - gateway: the gateway's limits, as its flags.
    ///   - monitoring: Prometheus and Alertmanager, under `--monitoring`.
    init(
        redis external: String?, redisPort: Int, data: URL, keys: KeyDirectory, gateway limits: [String], monitoring: UpMonitoring?
    ) async throws {
        self.monitoring = monitoring
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let environment = ProcessInfo.processInfo.environment.merging([ParentWatch.variable: String(getpid())]) { $1 }
        redisDirectory = data.appendingPathComponent("redis")
        instancesFile = data.appendingPathComponent("instances.json").path
        let secrets = data.appendingPathComponent("secrets")
        /// Each part's Redis URL and the file its password is in (none for a Redis given with --redis).
        let redisURL: @Sendable (String) -> String = { user in external ?? "redis://\(user)@127.0.0.1:\(redisPort)" }
        let passwordFile: @Sendable (String) -> String? = { user in
            external == nil ? secrets.appendingPathComponent("\(user).password").path : nil
        }
        var launches: [PartLaunch] = []
        if external == nil {
            try UpCommand.makePrivateDirectory(secrets)
            try UpCommand.makePrivateDirectory(redisDirectory)
            let passwords = try RedisUsers.writeFiles(in: secrets)
            let aclFile = redisDirectory.appendingPathComponent("users.acl")
            try PrivateFile.write(Data(RedisUsers.aclFile(passwords: passwords).utf8), to: aclFile.path)
            let directory = redisDirectory
            launches.append(
                PartLaunch(name: Self.redisName, kind: .redis) { _, port in
                    try await RedisServerProcess(
                        port: port, directory: directory,
                        arguments: ["--appendonly", "yes", "--appendfsync", "everysec", "--aclfile", aclFile.path]
                    ).process
                })
        }
        self.redisPort = external == nil ? redisPort : nil
        operatorHint =
            "bookdelivery streams --redis \(redisURL("operator"))" + (passwordFile("operator").map { " --redis-password-file \($0)" } ?? "")
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
                    if let file = passwordFile(name) { arguments += ["--redis-password-file", file] }
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
                if let file = passwordFile("gateway") { arguments += ["--redis-password-file", file] }
                return try ChildProcess(executable: executable, arguments: arguments, environment: environment, inheritOutput: true)
            })
        self.launches = launches + (monitoring?.launches ?? [])
    }
}
