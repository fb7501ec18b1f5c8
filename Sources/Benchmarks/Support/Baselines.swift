import ArgumentParser
import Bus
import Foundation
import GRDB
import Primitives
import ProcessSupport
import Redis
import ServiceKit

#if canImport(Glibc)
    import Glibc
#endif

/// The limits the system is compared with, measured on the same machine in the same run.
enum Baselines {
    /// A redis-server of its own, without persistence, in a temporary directory (see ``removeFiles(of:)``).
    static func privateRedis(name: String) async throws -> RedisServerProcess {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUIDv7.string().suffix(12))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try await RedisServerProcess(
            port: try TCPPort.free(), directory: directory, arguments: ["--save", "", "--appendonly", "no"])
    }

    /// Stops a private redis-server, if it still runs, and removes its directory.
    static func removeFiles(of server: RedisServerProcess) {
        server.process.signal(SIGKILL)
        server.process.wait()
        try? FileManager.default.removeItem(at: server.directory)
    }

    /// Serial one-row transactions on a file in `directory` opened as the services open theirs, with
    /// `durability`: the commits per second a single writer gets from this disk.
    static func sqliteCommitRate(directory: URL, durability: StorageOptions.Durability, duration: Duration = .seconds(2)) throws
        -> Double
    {
        let path = directory.appendingPathComponent("commit-rate-\(durability.rawValue).sqlite").path
        var migrator = ServiceDatabase.migrator()
        migrator.registerMigration("rows") { db in try db.execute(sql: "CREATE TABLE rows(id INTEGER PRIMARY KEY, payload TEXT)") }
        let database = try ServiceDatabase.open(at: path, migrator: migrator, durability: durability)
        let start = ContinuousClock.now
        var commits = 0
        while ContinuousClock.now - start < duration {
            try database.write { db in
                try db.execute(sql: "INSERT INTO rows(payload) VALUES (?)", arguments: ["a row of about the size of an order"])
            }
            commits += 1
        }
        let rate = Double(commits) / seconds(ContinuousClock.now - start)
        try database.close()
        for suffix in ["", "-wal", "-shm", ".migrating"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        return rate
    }

    /// Runs redis-benchmark with the same XADD as the Bus sends and returns its requests per second.
    static func redisBenchmark(
        endpoint: RedisEndpoint, sample: EventEnvelope, requests: Int, connections: Int, pipeline: Int
    ) async throws -> Double {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("redis-benchmark-\(UUID().uuidString).csv").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let command = StreamCommand.add(to: "bench:baseline", fields: sample.fields)
        let process = try ChildProcess(
            executable: try Executables.find("redis-benchmark").path,
            arguments: [
                "-h", endpoint.host, "-p", String(endpoint.port), "-c", String(connections), "-P", String(pipeline),
                "-n", String(requests), "--csv",
            ] + command,
            logFile: output)
        guard await process.exit(within: .seconds(600)), process.wait() == 0 else {
            throw ValidationError("redis-benchmark failed; see \(output)")
        }
        let text = try String(contentsOfFile: output, encoding: .utf8)
        // --csv prints a header, then "test","rps", and six latency columns. The test name holds the
        // JSON payload and its commas, so count the columns from the end.
        for line in text.split(separator: "\n") where line.hasPrefix("\"XADD") {
            let columns = line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            if columns.count >= 8, let rate = Double(columns[columns.count - 7]) { return rate }
        }
        throw ValidationError("could not read redis-benchmark's output: \(text)")
    }

    /// Redis's own cost of consuming: a Lua script that reads `stream` through a new group
    /// (`XREADGROUP COUNT batch`) and acknowledges each batch (`XACK`) inside the server, with no
    /// client decoding anything. What a consumer could reach if its own work cost nothing; returns
    /// entries per second.
    static func redisConsumeRate(client: RedisClient, stream: String, batch: Int) async throws -> Double {
        let group = "baseline-\(UUID().uuidString.prefix(8))"
        try await client.command(["XGROUP", "CREATE", stream, group, "0"]).orThrow()
        let script = """
            local count = 0
            while true do
              local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], 'lua', 'COUNT', ARGV[2], 'STREAMS', KEYS[1], '>')
              if not reply or #reply[1][2] == 0 then return count end
              local ids = {}
              for index, entry in ipairs(reply[1][2]) do ids[index] = entry[1] end
              redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
              count = count + #ids
            end
            """
        let start = ContinuousClock.now
        let read = try await client.command(["EVAL", script, "1", stream, group, String(batch)]).orThrow().int ?? 0
        let rate = Double(read) / seconds(ContinuousClock.now - start)
        _ = try await client.command(["XGROUP", "DESTROY", stream, group])
        return rate
    }
}
