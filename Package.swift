// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "bookdelivery",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "bookdelivery", targets: ["BookDeliveryCLI"]),
        .executable(name: "bus-benchmark", targets: ["BusBenchmark"]),
        .library(name: "Bus", targets: ["Bus", "Redis"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // hiredis, Debian's libhiredis-dev.
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        // Redis over hiredis: connection, client, pool, typed replies and reads. Knows nothing of events.
        .target(
            name: "Redis",
            dependencies: [
                "CHiredis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Event payloads, statuses, stream and group names: what the services agree on. No dependencies.
        .target(name: "Contracts"),
        // Messaging over Redis Streams: envelope, publisher, outbox, inbox, consumer stages, admin.
        .target(
            name: "Bus",
            dependencies: [
                "Redis",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // What every service is built from: HTTP helpers, event routing over SQLite, the runtime.
        .target(
            name: "ServiceKit",
            dependencies: serviceDependencies + [
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(name: "RentalService", dependencies: ["ServiceKit"] + serviceDependencies),
        .target(name: "DeliveryService", dependencies: ["ServiceKit"] + serviceDependencies),
        .target(name: "LookupService", dependencies: ["ServiceKit"] + serviceDependencies),
        .target(name: "NotifierService", dependencies: ["ServiceKit"] + serviceDependencies),
        // Child processes, ports, and a local redis-server: for `up`, the benchmark and the tests.
        .target(name: "ProcessSupport", dependencies: ["Redis"]),
        .executableTarget(
            name: "BookDeliveryCLI",
            dependencies: [
                "Bus", "Contracts", "Redis", "ServiceKit", "ProcessSupport",
                "RentalService", "DeliveryService", "LookupService", "NotifierService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "BusBenchmark",
            dependencies: [
                "Bus", "Redis", "ProcessSupport",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "TestSupport",
            dependencies: [
                "Redis", "ProcessSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/TestSupport"
        ),
        .testTarget(name: "RedisTests", dependencies: ["Redis", "TestSupport"]),
        .testTarget(name: "BusTests", dependencies: ["Bus", "Redis", "TestSupport"]),
        .target(
            name: "ServiceTestSupport",
            dependencies: [
                "TestSupport", "ServiceKit", "Contracts",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "Tests/ServiceTestSupport"
        ),
        .testTarget(name: "ContractsTests", dependencies: ["Contracts"]),
        .testTarget(name: "ServiceKitTests", dependencies: ["ServiceKit", "ServiceTestSupport"]),
        .testTarget(name: "RentalServiceTests", dependencies: ["RentalService", "ServiceTestSupport"]),
        .testTarget(name: "DeliveryServiceTests", dependencies: ["DeliveryService", "ServiceTestSupport"]),
        .testTarget(name: "LookupServiceTests", dependencies: ["LookupService", "ServiceTestSupport"]),
        .testTarget(name: "NotifierServiceTests", dependencies: ["NotifierService", "ServiceTestSupport"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "TestSupport", "ProcessSupport", "Contracts", "ServiceKit",
                "RentalService", "DeliveryService", "LookupService", "NotifierService",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

/// What every service target uses.
var serviceDependencies: [Target.Dependency] {
    [
        "Bus", "Contracts", "Redis",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    ]
}
