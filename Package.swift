// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "bookdelivery",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "bookdelivery", targets: ["BookDeliveryCLI"]),
        .executable(name: "bus-benchmark", targets: ["BusBenchmark"]),
        .library(name: "Bus", targets: ["Bus"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "Bus",
            dependencies: [
                "CHiredis",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(name: "ProcessSupport"),
        .target(
            name: "ServiceKit",
            dependencies: serviceDependencies + [
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(name: "Rental", dependencies: ["ServiceKit"] + serviceDependencies),
        .target(name: "Delivery", dependencies: ["ServiceKit"] + serviceDependencies),
        .target(name: "Lookup", dependencies: ["ServiceKit"] + serviceDependencies),
        .target(name: "Notifier", dependencies: ["ServiceKit"] + serviceDependencies),
        .executableTarget(
            name: "BookDeliveryCLI",
            dependencies: [
                "Bus", "ServiceKit", "ProcessSupport", "Rental", "Delivery", "Lookup", "Notifier",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "BusBenchmark",
            dependencies: [
                "Bus", "ProcessSupport", "TestSupport",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "TestSupport",
            dependencies: ["Bus", "ProcessSupport", .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            path: "Tests/TestSupport"
        ),
        .testTarget(name: "BusTests", dependencies: ["Bus", "TestSupport"]),
        .target(
            name: "ServiceTestSupport",
            dependencies: ["TestSupport", "ServiceKit", .product(name: "HummingbirdTesting", package: "hummingbird")],
            path: "Tests/ServiceTestSupport"
        ),
        .testTarget(name: "RentalTests", dependencies: ["Rental", "ServiceTestSupport"]),
        .testTarget(name: "DeliveryTests", dependencies: ["Delivery", "ServiceTestSupport"]),
        .testTarget(name: "LookupTests", dependencies: ["Lookup", "ServiceTestSupport"]),
        .testTarget(name: "NotifierTests", dependencies: ["Notifier", "ServiceTestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport", "ProcessSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

var serviceDependencies: [Target.Dependency] {
    [
        "Bus",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    ]
}
