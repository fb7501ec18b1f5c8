import ArgumentParser
import Bus
import Contracts
import Foundation
import NotifierService
import Redis

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
        discussion: """
            Dead-letter streams are named <stream>:dead:<group>. With --redrive, each entry's original fields go back on \
            <stream> and the dead-letter entry is deleted; groups that had handled the event already skip it (consumers \
            de-duplicate on the event id).
            """)
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
            for entry in try await client.range(of: stream.name, count: limit) {
                let fields = entry.fields ?? [:]
                let summary = ["type", "key", "dead.attempts", "dead.error"].map { "\($0)=\(fields[$0] ?? "?")" }
                print("  \(entry.id)  " + summary.joined(separator: " "))
            }
        }
    }
}

struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "List the consumer groups, or retire one that no service runs any more (--retire GROUP).",
        discussion: """
            Streams are trimmed only below what every group has read, so a group left behind by a retired service keeps \
            every stream it read at full length until the hard cap removes entries unread. --retire shows what the group \
            still had (pending, unread) and destroys it on every stream; it refuses while the group has work unless --force.
            """)
    @OptionGroup var redis: RedisOption
    @Option(help: "The group to destroy on every stream, e.g. a retired service's name.") var retire: String?
    @Flag(help: "Destroy it even though it still has pending or unread entries (nobody will handle them).") var force = false

    func run() async throws {
        let client = try redis.client()
        defer { client.close() }
        guard let retire else {
            for stream in try await StreamsReport.read(client: client).streams {
                let groups = stream.groups.map { "\($0.name) (pending \($0.pending), lag \($0.lag.map(String.init) ?? "?"))" }
                print("\(stream.name): " + (groups.isEmpty ? "no groups" : groups.joined(separator: ", ")))
            }
            return
        }
        func describe(_ found: [GroupRetirement.Found]) -> String {
            found.map { "  \($0.stream): \($0.consumers) consumers, \($0.pending) pending, \($0.lag.map(String.init) ?? "?") unread" }
                .joined(separator: "\n")
        }
        switch try await GroupRetirement.retire(retire, client: client, force: force) {
        case .notFound:
            throw ValidationError("no stream has a group named '\(retire)'")
        case .refused(let found):
            throw CtlError(description: "'\(retire)' still has work:\n\(describe(found))\nnot retired: --force destroys it anyway")
        case .retired(let found):
            print("retired '\(retire)', which had:\n\(describe(found))")
        }
    }
}

struct ContractsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contracts",
        abstract: "Print the event contracts as JSON: streams, groups, statuses in lifecycle order, what each event leads to.",
        discussion: "Tools outside Swift (ops/faults.py) read the saga's rules from here instead of restating them.")

    func run() async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let json = try encoder.encode(ContractDocument(alertTypes: NotifierApplication.alertTypes))
        print(String(decoding: json, as: UTF8.self))
    }
}
