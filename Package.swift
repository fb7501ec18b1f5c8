// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "bookdelivery",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "bookdelivery", targets: ["BookDeliveryCLI"]),
        .executable(name: "benchmark", targets: ["Benchmarks"]),
        .library(name: "Bus", targets: ["Bus", "Redis"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // NIOHTTPTypes: the HTTP parts Hummingbird's channel passes, for the header-read timeout handler.
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The gateway's client to the services' instances.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Signed identities (EdDSA JWTs): minted by `bookdelivery token`, verified by the gateway and every service.
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        // The gateway's web app: server-rendered HTML from Mustache templates (logic-less, HTML-escaping by default).
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // SHA-256 for the Redis ACL file's password hashes (already in the build through jwt-kit).
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        // Traces (OpenTelemetry over OTLP/HTTP): the API every layer opens spans with, and the exporter.
        // Only the OTLPHTTP trait: the gRPC exporter would bring grpc-swift and minutes more of build.
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
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
        // The values every layer mints: UUIDv7 ids, the canonical text of a UUID, ISO-8601 times in
        // milliseconds. Foundation only.
        .target(name: "Primitives"),
        // Messaging over Redis Streams: envelope, publisher, outbox, inbox, consumer stages, admin.
        .target(
            name: "Bus",
            dependencies: [
                "Primitives", "Redis",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // Who is calling: roles, token claims, key files, minting and verifying EdDSA JWTs.
        .target(
            name: "Identity",
            dependencies: [.product(name: "JWTKit", package: "jwt-kit")]
        ),
        // What every service is built from: HTTP helpers, event routing over SQLite, the runtime.
        .target(
            name: "ServiceKit",
            dependencies: serviceDependencies + [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        .target(name: "RentalService", dependencies: ["ServiceKit"] + serviceDependencies, path: "Sources/Rental"),
        .target(name: "DeliveryService", dependencies: ["ServiceKit"] + serviceDependencies, path: "Sources/Delivery"),
        .target(name: "LookupService", dependencies: ["ServiceKit"] + serviceDependencies, path: "Sources/Lookup"),
        .target(name: "NotifierService", dependencies: ["ServiceKit"] + serviceDependencies, path: "Sources/Notifier"),
        // The one public entry point: routes to pools of instances with rate limits, load shedding,
        // circuit breakers and fallbacks.
        .target(
            name: "Gateway",
            dependencies: [
                "Bus", "Contracts", "Identity", "Primitives", "Redis", "ServiceKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            // The web app's templates and static files and the API's OpenAPI document, compiled into
            // the binary: nothing to ship beside it.
            resources: [.embedInCode("Resources")]
        ),
        // glibc's mallopt(M_ARENA_MAX), which Swift's Glibc module does not bring.
        .target(name: "CMallocArenas"),
        // Child processes, ports, and a local redis-server: for `up`, the benchmark and the tests.
        .target(name: "ProcessSupport", dependencies: ["Redis"]),
        .executableTarget(
            name: "BookDeliveryCLI",
            dependencies: [
                "Bus", "Contracts", "Primitives", "Redis", "ServiceKit", "ProcessSupport",
                "RentalService", "DeliveryService", "LookupService", "NotifierService", "Gateway", "Identity", "CMallocArenas",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // `up`'s probes of its parts, `ctl` (HTTP over up's Unix socket) and `load`.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                // `load`'s latency percentiles.
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                // `backup` and `restore`: a service's database read as SQLite.
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            linkerSettings: releaseLinkerSettings
        ),
        // `benchmark e2e` (the system end to end, next to its parts' limits) and `benchmark bus`.
        .executableTarget(
            name: "Benchmarks",
            dependencies: [
                "Bus", "Redis", "ProcessSupport", "Contracts", "Identity", "Primitives", "ServiceKit",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
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
        .testTarget(name: "BusTests", dependencies: ["Bus", "Primitives", "Redis", "TestSupport"]),
        .target(
            name: "ServiceTestSupport",
            dependencies: [
                "TestSupport", "ServiceKit", "Contracts", "Primitives",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "Tests/ServiceTestSupport"
        ),
        .testTarget(name: "ContractsTests", dependencies: ["Contracts"]),
        .testTarget(name: "IdentityTests", dependencies: ["Identity"]),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Contracts", "Gateway", "Redis", "ServiceKit", "TestSupport", "ProcessSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]),
        .testTarget(name: "ServiceKitTests", dependencies: ["ServiceKit", "ServiceTestSupport"]),
        .testTarget(name: "RentalServiceTests", dependencies: ["RentalService", "ServiceTestSupport"]),
        .testTarget(name: "DeliveryServiceTests", dependencies: ["DeliveryService", "ServiceTestSupport"]),
        .testTarget(name: "LookupServiceTests", dependencies: ["LookupService", "ServiceTestSupport"]),
        .testTarget(name: "NotifierServiceTests", dependencies: ["NotifierService", "ServiceTestSupport"]),
        // The command line's own rules, tested without starting it (an executable target is testable).
        .testTarget(name: "BookDeliveryCLITests", dependencies: ["BookDeliveryCLI", "RentalService"]),
        // The benchmark's load generator, whose behaviour its figures rest on.
        .testTarget(name: "BenchmarksTests", dependencies: ["Benchmarks", "TestSupport"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "TestSupport", "ProcessSupport", "Contracts", "ServiceKit", "Identity", "Redis",
                "RentalService", "DeliveryService", "LookupService", "NotifierService", "CMallocArenas",
                // The overload test needs a client that really opens 40 connections at once.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

/// What every service target uses.
var serviceDependencies: [Target.Dependency] {
    [
        "Bus", "Contracts", "Identity", "Primitives", "Redis",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
    ]
}

/// How the release executable is linked on Linux: by lld, which
/// - packs the relative relocations (`DT_RELR`, glibc 2.36+, Debian 12's): a position-independent
///   executable with the Swift runtime linked in carries ~150,000 of them, 3.6 MB of RELA entries
///   the loader reads at every start and that then stay resident in every process;
/// - exports no symbols (swiftc asks for `--export-dynamic`): the 54,000 exported ones took 3 MB
///   of symbol tables, which the loader's lookups touched in every process, and nothing looks them up;
/// - places first, together, the functions the processes run (`scripts/link-order.txt`, made
///   by `scripts/link-order`): the kernel maps code 64 KB around each page touched, so scattered they
///   kept ~16 MB of the 33 MB of code resident in each process. This takes effect when the code is
///   compiled with `-Xswiftc -Xfrontend -Xswiftc -function-sections` (scripts/release-build).
var releaseLinkerSettings: [LinkerSetting] {
    let order = Context.packageDirectory + "/scripts/link-order.txt"
    let flags = [
        "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic",
        "-Xlinker", "--symbol-ordering-file=\(order)", "-Xlinker", "--no-warn-symbol-ordering",
    ]
    return [.unsafeFlags(flags, .when(platforms: [.linux], configuration: .release))]
}
