import ArgumentParser
import Bus

struct StreamsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streams", abstract: "Show each stream's length, each group's lag and pending count, and the dead-letter counts.")
    @OptionGroup var redis: RedisOption

    func run() async throws {
        let client = try redis.client()
        defer { client.close() }
        print(try await StreamsReport.read(client: client).text)
    }
}

struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "List dead-letter entries, or put them back on their stream once the cause is fixed.",
        discussion: "Dead-letter streams are named <stream>:dead:<group>. With --redrive, each entry's original fields go back on <stream> and the dead-letter entry is deleted; groups that had handled the event already skip it (consumers de-duplicate on the event id).")
    @OptionGroup var redis: RedisOption
    @Option(help: "The dead-letter stream to re-drive, e.g. rental-events:dead:delivery.") var redrive: String?
    @Option(help: "At most this many entries.") var limit = 1000

    func run() async throws {
        let client = try redis.client()
        defer { client.close() }
        if let redrive {
            guard DeadLetter.source(of: redrive) != nil else {
                throw ValidationError("'\(redrive)' is not a dead-letter stream (expected <stream>:dead:<group>)")
            }
            let moved = try await DeadLetterRedrive.redrive(client: client, deadLetterStream: redrive, limit: limit)
            print("re-drove \(moved) entries from \(redrive)")
            return
        }
        let report = try await StreamsReport.read(client: client)
        if report.deadLetters.allSatisfy({ $0.length == 0 }) {
            print("no dead letters")
            return
        }
        for stream in report.deadLetters where stream.length > 0 {
            print("\(stream.name): \(stream.length) entries")
            let entries = try await client.command(["XRANGE", stream.name, "-", "+", "COUNT", String(limit)]).orThrow().array ?? []
            for entry in entries {
                guard let parts = entry.array, parts.count == 2 else { continue }
                let flat = (parts[1].array ?? []).compactMap(\.string)
                var fields: [String: String] = [:]
                for index in stride(from: 0, to: flat.count - 1, by: 2) { fields[flat[index]] = flat[index + 1] }
                print("  \(parts[0].string ?? "?")  type=\(fields["type"] ?? "?") key=\(fields["key"] ?? "?") deliveries=\(fields["dead.deliveries"] ?? "?") error=\(fields["dead.error"] ?? "?")")
            }
        }
    }
}
