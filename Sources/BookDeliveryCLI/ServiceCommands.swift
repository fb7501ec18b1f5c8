import ArgumentParser
import Delivery
import Hummingbird
import Lookup
import Notifier
import Rental
import ServiceKit

struct RentalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rental", abstract: "Run Rental: books and rentals (port 8081).")
    @OptionGroup var options: ServiceCommandOptions

    func run() async throws {
        let options = try options.resolve(service: RentalService.name, defaultPort: RentalService.defaultPort)
        try await RentalService.buildApplication(options: options).runService()
    }
}

struct DeliveryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delivery", abstract: "Run Delivery: one delivery per rental (port 8082).")
    @OptionGroup var options: ServiceCommandOptions

    func run() async throws {
        let options = try options.resolve(service: DeliveryService.name, defaultPort: DeliveryService.defaultPort)
        try await DeliveryService.buildApplication(options: options).runService()
    }
}

struct LookupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lookup", abstract: "Run Lookup: customers' rental views in Redis (port 8083).")
    @OptionGroup var options: ServiceCommandOptions
    @Flag(help: "Delete the views and rebuild them from the streams, then exit.") var rebuild = false

    func run() async throws {
        let options = try options.resolve(service: LookupService.name, defaultPort: LookupService.defaultPort)
        if rebuild {
            let events = try await LookupService.rebuild(options: options)
            print("rebuilt the Lookup views from \(events) events")
            return
        }
        try await LookupService.buildApplication(options: options).runService()
    }
}

struct NotifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "notifier", abstract: "Run Notifier: alerts for customers (port 8084).")
    @OptionGroup var options: ServiceCommandOptions

    func run() async throws {
        let options = try options.resolve(service: NotifierService.name, defaultPort: NotifierService.defaultPort)
        try await NotifierService.buildApplication(options: options).runService()
    }
}
