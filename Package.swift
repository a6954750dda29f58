// swift-tools-version: 6.1
import PackageDescription

// One settings list for every target, so the language mode and upcoming
// features are decided in one place.
let settings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "costsync",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "costsync", targets: ["costsync"]),
        .executable(name: "costsync-sim", targets: ["costsync-sim"]),
        .executable(name: "costsync-bench", targets: ["costsync-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // TLS: PostgreSQL's sslmode, and the shared HTTP client's extra CA file.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // AsyncChannel: the engine hands a fetched page to its writer (already in the graph through service-lifecycle).
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
    ],
    targets: [
        // The C-interop layer: the system's libsqlite3, nothing vendored.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // Connection, statements, transactions, migrations over CSQLite.
        .target(name: "SQLite", dependencies: ["CSQLite"], swiftSettings: settings),
        // Values shared by every layer: Day, Money, CostLine.
        .target(name: "CostModel", swiftSettings: settings),
        // The store port: what the engine and the commands need of a database.
        .target(name: "StorePort", dependencies: ["CostModel"], swiftSettings: settings),
        // The SQLite adapter of the port: the schema and the partition-replacing write path.
        .target(name: "SQLiteStore", dependencies: ["SQLite", "CostModel", "StorePort"], swiftSettings: settings),
        // A throwaway PostgreSQL cluster (initdb, pg_ctl) for the tests and the bench (issue 13).
        .target(name: "PostgresScratch", dependencies: ["PostgresStore"], swiftSettings: settings),
        // The PostgreSQL adapter of the port (issue 13): the same semantics, for a shared database.
        .target(
            name: "PostgresStore",
            dependencies: [
                "CostModel", "StorePort",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        // A pull parser over JSON bytes that hands numbers over as text.
        .target(name: "JSONScanner", swiftSettings: settings),
        // The metric names and labels, recorded through swift-metrics only.
        .target(
            name: "CostsyncMetrics",
            dependencies: ["CostModel", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: settings
        ),
        // A small HTTP/1.1 server (SwiftNIO): the simulator's APIs and the metrics endpoint.
        .target(
            name: "LoopbackHTTP",
            dependencies: [
                "CostModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: settings
        ),
        // The shared HTTP client, retries, pacing and the provider error type.
        .target(
            name: "ProviderHTTP",
            dependencies: [
                "CostModel", "CostsyncMetrics",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "AnthropicProvider",
            dependencies: ["CostModel", "JSONScanner", "ProviderHTTP", .product(name: "Logging", package: "swift-log")],
            swiftSettings: settings
        ),
        .target(
            name: "ClickHouseProvider",
            dependencies: ["CostModel", "JSONScanner", "ProviderHTTP", .product(name: "Logging", package: "swift-log")],
            swiftSettings: settings
        ),
        // Both provider APIs served from a seed on loopback, with fault switches.
        .target(
            name: "Simulator",
            dependencies: ["CostModel", "LoopbackHTTP"],
            swiftSettings: settings
        ),
        .target(
            name: "Config",
            dependencies: ["CostModel", .product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: settings
        ),
        // sd_notify datagrams and a journald-aware log handler, without libsystemd.
        .target(
            name: "SystemdSupport",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: settings
        ),
        .target(
            name: "SyncEngine",
            dependencies: [
                "CostModel", "StorePort", "Config", "SystemdSupport", "CostsyncMetrics",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ],
            swiftSettings: settings
        ),
        // Budgets, anomalies and webhook delivery (issue 14): evaluated after each pass, delivered beside the sync.
        .target(
            name: "Alerts",
            dependencies: [
                "CostModel", "StorePort", "Config",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        // The composition root: given a validated config, a clock and a logger,
        // the store, the clients and every command's action, callable in-process.
        .target(
            name: "CostsyncApp",
            dependencies: [
                "CostModel", "Config", "StorePort", "SQLiteStore", "PostgresStore", "ProviderHTTP", "AnthropicProvider", "ClickHouseProvider",
                "SyncEngine", "SystemdSupport", "Simulator", "CostsyncMetrics", "LoopbackHTTP", "Alerts",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings
        ),
        // Parses arguments, calls CostsyncApp, maps its errors to exit codes.
        .executableTarget(
            name: "costsync",
            dependencies: [
                "CostsyncApp", "Config", "CostModel", "SystemdSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "costsync-sim",
            dependencies: ["Simulator", "CostModel", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "costsync-bench",
            dependencies: [
                "CSQLite", "SQLite", "CostModel", "StorePort", "SQLiteStore", "AnthropicProvider", "ClickHouseProvider", "Simulator",
                "PostgresStore", "PostgresScratch", .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .testTarget(name: "StorageTests", dependencies: ["SQLite", "StorePort", "SQLiteStore", "CostModel", "CSQLite"], swiftSettings: settings),
        // The PostgreSQL store against a throwaway cluster, and costsync end to end on it (issue 13).
        .testTarget(
            name: "PostgresStoreTests",
            dependencies: ["PostgresStore", "PostgresScratch", "SQLiteStore", "SQLite", "StorePort", "CostModel", "Simulator", "Config", "ProcessHarness",
                           "LoopbackHTTP",
                           .product(name: "Logging", package: "swift-log"), .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: settings
        ),
        .testTarget(name: "CostModelTests", dependencies: ["CostModel", "JSONScanner"], swiftSettings: settings),
        .testTarget(
            name: "ProviderTests",
            dependencies: [
                "AnthropicProvider", "ClickHouseProvider", "ProviderHTTP", "Simulator", "LoopbackHTTP", "CostModel", "JSONScanner",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "SyncEngineTests",
            dependencies: ["SyncEngine", "StorePort", "SQLiteStore", "CostModel", "Config", .product(name: "Logging", package: "swift-log")],
            swiftSettings: settings
        ),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "CostModel"], swiftSettings: settings),
        .testTarget(name: "SystemdSupportTests", dependencies: ["SystemdSupport", .product(name: "Logging", package: "swift-log")], swiftSettings: settings),
        // Commands driven in-process through the composition root, against the simulator.
        .testTarget(
            name: "AppTests",
            dependencies: ["CostsyncApp", "Config", "CostModel", "StorePort", "SQLiteStore", "Simulator",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: settings
        ),
        // Issue 14: budgets, anomalies and webhooks against the simulator and a loopback receiver.
        .testTarget(
            name: "AlertsTests",
            dependencies: ["Alerts", "CostsyncApp", "Config", "CostModel", "StorePort", "SQLiteStore", "Simulator", "LoopbackHTTP",
                           "SQLite", .product(name: "Logging", package: "swift-log"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: settings
        ),
        // Child processes for the end-to-end tests: run, signal, wait, collect output.
        .target(name: "ProcessHarness", swiftSettings: settings),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["Simulator", "CostModel", "SQLite", "SyncEngine", "ProcessHarness"],
            swiftSettings: settings
        ),
    ],
    swiftLanguageModes: [.v6]
)
