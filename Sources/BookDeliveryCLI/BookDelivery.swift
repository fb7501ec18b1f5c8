import ArgumentParser

/// `bookdelivery`: one executable for every service and the operator's tools.
@main
struct BookDelivery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bookdelivery",
        abstract: "A free book rental-and-delivery service: four services talking through Redis Streams, behind one gateway.",
        discussion:
            "Run one service per process; run a service several times (same --db, distinct --consumer and --port) to scale its event consumers out. `up` starts everything for a local try-out.",
        subcommands: [
            RentalCommand.self, DeliveryCommand.self, LookupCommand.self, NotifierCommand.self,
            GatewayCommand.self, UpCommand.self, KeysCommand.self, TokenCommand.self, RedisUsersCommand.self, ConfigCommand.self,
            StreamsCommand.self, DeadLettersCommand.self, ContractsCommand.self,
        ])
}
