import ArgumentParser
import CMallocArenas
import DeliveryService
import Foundation
import LookupService
import NotifierService
import RentalService

/// `bookdelivery`: one executable for every service and the operator's tools.
@main
struct BookDelivery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bookdelivery",
        abstract: "A free book rental-and-delivery service: four services talking through Redis Streams, behind one gateway.",
        discussion:
            "Run one service per process; run a service several times (same --db, distinct --consumer and --port) to scale its event consumers out. `up` starts everything for a local try-out.",
        subcommands: [
            ServiceCommand<RentalApplication>.self, ServiceCommand<DeliveryApplication>.self, LookupCommand.self,
            ServiceCommand<NotifierApplication>.self,
            GatewayCommand.self, UpCommand.self, CtlCommand.self, LoadCommand.self, KeysCommand.self, TokenCommand.self,
            RedisUsersCommand.self,
            ConfigCommand.self, BackupCommand.self, RestoreCommand.self,
            StreamsCommand.self, DeadLettersCommand.self, GroupsCommand.self, ContractsCommand.self,
        ])

    /// Two malloc arenas before any thread of ours starts. glibc gives each thread that meets a busy
    /// arena a new one, up to 8 per core, and every arena keeps its own freed memory: with the
    /// event loops, the task pool, SQLite's writer queue and the Redis connections' threads, Rental
    /// had 12 arena heaps under 32 concurrent requests, and 1 with the cap. At 1,000 orders/s
    /// (`scripts/benchmark e2e`) the cap took Rental's peak RSS from 37.8 to 35.0-35.8 MiB, and
    /// Delivery's and Lookup's down by about 3 MiB, at the same CPU per order. The environment
    /// variable `MALLOC_ARENA_MAX` still wins where it is set.
    static func main() async {
        if getenv("MALLOC_ARENA_MAX") == nil { _ = bookdelivery_limit_malloc_arenas(2) }
        await main(nil)
    }
}
