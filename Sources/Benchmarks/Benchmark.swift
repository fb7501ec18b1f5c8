import ArgumentParser

/// `benchmark`: what the system does per second and how long customers wait, measured on this machine
/// next to the limits of its parts (SQLite, Redis, a bare HTTP server) in the same run.
@main
struct Benchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "benchmark",
        abstract: "Measure bookdelivery: end to end (e2e) or the Bus alone (bus).",
        subcommands: [EndToEndBenchmark.self, BusBenchmark.self, BareServer.self],
        defaultSubcommand: BusBenchmark.self)
}
