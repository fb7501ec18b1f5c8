import ArgumentParser
import DeliveryService
import Hummingbird
import LookupService
import NotifierService
import RentalService
import ServiceKit

struct RentalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rental", abstract: "Run Rental: books and rentals (port 8081).")
    @OptionGroup var options: ServiceCommandOptions

    func run() async throws {
        let options = try await options.resolve(service: RentalApplication.name, defaultPort: RentalApplication.defaultPort)
        try await DrainGate.run(
            RentalApplication.buildApplication(options: options), readiness: options.readiness, drain: options.drain, logger: options.logger
        )
    }
}

struct DeliveryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delivery", abstract: "Run Delivery: one delivery per rental (port 8082).")
    @OptionGroup var options: ServiceCommandOptions

    func run() async throws {
        let options = try await options.resolve(service: DeliveryApplication.name, defaultPort: DeliveryApplication.defaultPort)
        try await DrainGate.run(
            DeliveryApplication.buildApplication(options: options), readiness: options.readiness, drain: options.drain,
            logger: options.logger)
    }
}

struct LookupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookup", abstract: "Run Lookup: customers' rental views in Redis (port 8083).")
    @OptionGroup var options: ServiceCommandOptions
    @Flag(help: "Rebuild the views from the streams (those whose order the streams still hold), then exit.") var rebuild = false

    func run() async throws {
        let options = try await options.resolve(
            service: LookupApplication.name, defaultPort: LookupApplication.defaultPort, serving: !rebuild)
        if rebuild {
            print(try await LookupApplication.rebuild(options: options).summary)
            return
        }
        try await DrainGate.run(
            LookupApplication.buildApplication(options: options), readiness: options.readiness, drain: options.drain, logger: options.logger
        )
    }
}

struct NotifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "notifier", abstract: "Run Notifier: alerts for customers (port 8084).")
    @OptionGroup var options: ServiceCommandOptions

    func run() async throws {
        let options = try await options.resolve(service: NotifierApplication.name, defaultPort: NotifierApplication.defaultPort)
        try await DrainGate.run(
            NotifierApplication.buildApplication(options: options), readiness: options.readiness, drain: options.drain,
            logger: options.logger)
    }
}

/// The four services with their names and default ports, for `up`.
enum Services {
    static let all: [(name: String, port: Int)] = [
        (RentalApplication.name, RentalApplication.defaultPort),
        (DeliveryApplication.name, DeliveryApplication.defaultPort),
        (LookupApplication.name, LookupApplication.defaultPort),
        (NotifierApplication.name, NotifierApplication.defaultPort),
    ]
}
