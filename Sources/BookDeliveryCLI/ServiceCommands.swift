import ArgumentParser
import DeliveryService
import Hummingbird
import LookupService
import NotifierService
import RentalService
import ServiceKit

/// `bookdelivery rental`, `delivery`, `notifier`: one command for every service, from its
/// ``ServiceDefinition``.
struct ServiceCommand<Service: ServiceDefinition>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: Service.name, abstract: "Run \(Service.summary) (port \(Service.defaultPort)).")
    }

    @OptionGroup var options: ServiceCommandOptions

    func run() async throws {
        try await Self.serve(options.resolve(service: Service.name, defaultPort: Service.defaultPort))
    }

    /// Catches the database up with the streams (``StreamRecovery``), then serves until SIGTERM or
    /// SIGINT, draining first (``DrainGate``).
    static func serve(_ options: ServiceOptions) async throws {
        do {
            _ = try await Service.recover(options: options)
        } catch let error as RecoveryError {
            options.logger.critical("not starting: \(error)")
            throw ExitCode(3)
        }
        try await DrainGate.run(
            Service.buildApplication(options: options), readiness: options.readiness, drain: options.drain, logger: options.logger)
    }
}

/// `bookdelivery lookup`: a service command, and `--rebuild`.
struct LookupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: LookupApplication.name, abstract: "Run \(LookupApplication.summary) (port \(LookupApplication.defaultPort)).")
    @OptionGroup var options: ServiceCommandOptions
    @Flag(help: "Rebuild the views from the streams (those whose order the streams still hold), then exit.") var rebuild = false

    func run() async throws {
        let options = try await options.resolve(
            service: LookupApplication.name, defaultPort: LookupApplication.defaultPort, serving: !rebuild)
        if rebuild {
            print(try await LookupApplication.rebuild(options: options).summary)
            return
        }
        try await ServiceCommand<LookupApplication>.serve(options)
    }
}

/// The four services, for `up` and `config`.
enum Services {
    static var definitions: [any ServiceDefinition.Type] {
        [RentalApplication.self, DeliveryApplication.self, LookupApplication.self, NotifierApplication.self]
    }
    static let all: [(name: String, port: Int)] = definitions.map { ($0.name, $0.defaultPort) }
}
