// swift-tools-version:6.0
// Haven: a local-first student-wellbeing daemon (havend), its CLI (haven) and plugins.
// Module map and what each one owns: Docs/architecture.md.
import Foundation
import PackageDescription

let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
]
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let protobuf: Target.Dependency = .product(name: "SwiftProtobuf", package: "swift-protobuf")
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let grdb: Target.Dependency = .product(name: "GRDB", package: "GRDB.swift")

let package = Package(
    name: "Haven",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "havend", targets: ["havend"]),
        .executable(name: "haven", targets: ["haven"]),
        .executable(name: "haven-bench", targets: ["haven-bench"]),
        .library(name: "HavenPluginAPI", targets: ["HavenPluginAPI"]),
        .library(name: "HavenRPCClient", targets: ["HavenRPCClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        // Generated protobuf messages of the public contract (Proto/), plus the
        // embedded descriptor set that Daemon/Describe serves.
        .target(name: "HavenProto", dependencies: [protobuf]),

        // ttrpc framing: frame header, codec, status codes. No sockets.
        .target(name: "HavenWire", dependencies: ["HavenProto", protobuf, .product(name: "NIOCore", package: "swift-nio")]),

        // The server side of the protocol: a Unix-socket listener, per-connection
        // stream state, dispatch, deadlines, limits, peer credentials.
        .target(name: "HavenRPCServer", dependencies: ["HavenLocking", "HavenWire", logging] + nio),

        // TLS for ttrpc over TCP: this node's key and self-signed certificate,
        // and server/client handlers that trust by pinned fingerprint.
        .target(name: "HavenTLS", dependencies: [
            "HavenRPCServer",
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),

        // The client side: an async, multiplexed connection used by the CLI and tests.
        .target(name: "HavenRPCClient", dependencies: ["HavenWire"] + nio),

        // An order-keeping JSON value, parser and writer with located errors.
        .target(name: "HavenJSON"),
        // Times as RFC 3339 text, the one form the protocol, JSON and messages use.
        .target(name: "HavenTime"),

        // Locked<Value>: shared state behind a pthread mutex, which the
        // sanitizers understand (Synchronization.Mutex's futex they do not).
        .target(name: "HavenLocking"),

        // ChildProcess: programs started with posix_spawn (the referral
        // notify command, and every program the tests and benchmark start).
        .target(name: "HavenProcess", dependencies: ["HavenLocking"]),

        // Descriptor-driven JSON <-> protobuf transcoding for generic callers.
        .target(name: "HavenReflection", dependencies: ["HavenJSON", "HavenTime", protobuf]),

        // Default socket, data and config locations shared by havend and haven.
        .target(name: "HavenPaths"),

        // The TOML config file: typed reads that name the key and its line.
        .target(name: "HavenConfig", dependencies: [.product(name: "TOMLKit", package: "TOMLKit")]),

        // SQLite through GRDB: opening, durability settings, namespaced migrations.
        .target(name: "HavenStorage", dependencies: ["HavenLocking", "CSQLiteSettings", grdb, .product(name: "GRDBSQLite", package: "GRDB.swift"), logging]),
        // The process-wide SQLite settings Swift cannot make (sqlite3_config is variadic).
        .target(name: "CSQLiteSettings", linkerSettings: [.linkedLibrary("sqlite3")]),

        // What a plugin implements and what the host gives it.
        .target(name: "HavenPluginAPI", dependencies: [
            "HavenRPCServer", "HavenStorage", "HavenConfig", "HavenProto", "HavenJSON", protobuf, logging, grdb,
        ]),

        // The domain: roster, staff and access, concerns, timeline, the
        // hash-chained audit log and the event outbox.
        .target(name: "HavenCore", dependencies: [
            "HavenLocking", "HavenPluginAPI", "HavenStorage", "HavenConfig", "HavenProto", "HavenWire", "HavenJSON", "HavenTime", "HavenRPCClient", grdb, logging, protobuf,
            .product(name: "Crypto", package: "swift-crypto"),
        ]),

        // The daemon assembled: config, storage, plugin host, core services, lifecycle.
        .target(name: "HavenDaemon", dependencies: [
            "HavenLocking", "HavenPluginAPI", "HavenCore", "HavenRPCServer", "HavenRPCClient", "HavenTLS", "HavenStorage", "HavenConfig", "HavenProto", "HavenPaths", grdb, logging,
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ] + nio),

        // First-party plugins, compiled in and enabled per school. Each has its
        // protobuf messages in a module of their own, which the CLI shares.
        .target(name: "HavenScreeningProto", dependencies: ["HavenProto", protobuf], path: "Plugins/Screening/Proto"),
        .target(name: "HavenScreening", dependencies: [
            "HavenLocking", "HavenPluginAPI", "HavenScreeningProto", "HavenJSON", "HavenWire", "HavenStorage", grdb, protobuf,
        ], path: "Plugins/Screening/Sources", resources: [.copy("BuiltinInstruments")]),
        .target(name: "HavenReferralsProto", dependencies: ["HavenProto", protobuf], path: "Plugins/Referrals/Proto"),
        .target(name: "HavenReferrals", dependencies: [
            "HavenLocking", "HavenPluginAPI", "HavenReferralsProto", "HavenConfig", "HavenJSON", "HavenProcess", "HavenWire", "HavenStorage",
            grdb, protobuf, logging,
        ], path: "Plugins/Referrals/Sources"),
        .target(name: "HavenReportingProto", dependencies: ["HavenProto", protobuf], path: "Plugins/Reporting/Proto"),
        .target(name: "HavenReporting", dependencies: [
            "HavenPluginAPI", "HavenReportingProto", "HavenConfig", "HavenJSON", "HavenWire", "HavenStorage", grdb, protobuf,
        ], path: "Plugins/Reporting/Sources"),

        // The CLI's commands: arguments in, requests out, responses rendered.
        .target(name: "HavenCLI", dependencies: [
            "HavenRPCClient", "HavenRPCServer", "HavenTLS", "HavenReflection", "HavenJSON", "HavenTime", "HavenProto", "HavenScreeningProto", "HavenReferralsProto", "HavenReportingProto", "HavenPaths", "HavenWire",
            argumentParser, protobuf,
        ], swiftSettings: [
            // Swift 6.3.1's optimizer crashes (LLVM coroutine splitting) on the
            // commands' async closures; a CLI gains nothing from -O anyway.
            .unsafeFlags(["-Onone"], .when(configuration: .release)),
        ]),

        .executableTarget(name: "havend", dependencies: [
            "HavenDaemon", "HavenScreening", "HavenReferrals", "HavenReporting", "HavenPaths", "HavenConfig",
            "HavenPluginAPI", argumentParser, logging,
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "haven", dependencies: ["HavenCLI", argumentParser]),

        // The benchmark: havend against a C echo floor, containerd's ttrpc and
        // plain SQLite, each baseline measured in the same run (Docs/performance.md).
        .target(name: "HavenBenchmarks", dependencies: [
            "HavenTestSupport", "HavenProcess", "HavenRPCClient", "HavenProto", "HavenStorage", "HavenReportingProto", grdb, protobuf, logging,
        ]),
        .executableTarget(name: "haven-bench", dependencies: ["HavenBenchmarks", argumentParser, logging]),

        // What the fuzzers attack, callable without libFuzzer: Fuzz/ builds
        // the fuzzers on it, and the tests replay the corpus through it.
        .target(name: "HavenFuzzing", dependencies: [
            "HavenConfig", "HavenCore", "HavenDaemon", "HavenPluginAPI", "HavenProto", "HavenRPCServer", "HavenWire",
            "HavenScreening", "HavenScreeningProto", "HavenReferrals", "HavenReferralsProto", "HavenReporting", "HavenReportingProto",
            protobuf, .product(name: "NIOEmbedded", package: "swift-nio"),
        ] + nio),

        .target(name: "HavenTestSupport", dependencies: ["HavenLocking", "HavenProcess", "HavenRPCClient", "HavenProto", "HavenWire", "HavenPluginAPI"], path: "Tests/HavenTestSupport"),

        .testTarget(name: "HavenWireTests", dependencies: [
            "HavenWire", "HavenProto", .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
        .testTarget(name: "HavenRPCServerTests", dependencies: [
            "HavenRPCServer", "HavenRPCClient", "HavenTestSupport",
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
        .testTarget(name: "HavenReflectionTests", dependencies: ["HavenReflection", "HavenJSON", "HavenProto"]),
        .testTarget(name: "HavenConfigTests", dependencies: ["HavenConfig"]),
        .testTarget(name: "HavenTimeTests", dependencies: ["HavenTime"]),
        .testTarget(name: "HavenBenchmarksTests", dependencies: ["HavenBenchmarks"]),
        .testTarget(name: "HavenStorageTests", dependencies: ["HavenStorage", "CSQLiteSettings", "HavenLocking", "HavenProcess", "HavenTestSupport", grdb, .product(name: "GRDBSQLite", package: "GRDB.swift")]),
        .testTarget(name: "HavenDaemonTests", dependencies: [
            "HavenDaemon", "HavenScreening", "HavenReferrals", "HavenReporting", "HavenTestSupport", grdb, protobuf,
        ]),
        .testTarget(name: "HavenCoreTests", dependencies: [
            "HavenLocking", "HavenDaemon", "HavenCore", "HavenTestSupport", "HavenRPCClient", "HavenProto", "HavenWire", grdb, protobuf, logging,
            "HavenScreening", "HavenScreeningProto", "HavenReferrals", "HavenReferralsProto", "HavenReporting", "HavenReportingProto",
            "HavenFuzzing",
        ]),
        .testTarget(name: "HavenScreeningTests", dependencies: ["HavenScreening", "HavenJSON", "HavenWire"]),
        .testTarget(name: "HavenReportingTests", dependencies: ["HavenReporting"]),
        .testTarget(name: "HavenLiveTests", dependencies: [
            "HavenLocking", "HavenProcess", "HavenTestSupport", "HavenRPCClient", "HavenProto", "HavenWire", "HavenScreeningProto", "HavenReferralsProto", "HavenTLS",
            protobuf, grdb,
        ]),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer executables (Fuzz/Sources), one per HavenFuzzing target. They
// have no main of their own, so they exist only when Scripts/fuzz builds
// them with --sanitize=fuzzer (it sets HAVEN_FUZZ=1).
if ProcessInfo.processInfo.environment["HAVEN_FUZZ"] == "1" {
    for name in ["FuzzFrames", "FuzzRequests", "FuzzOneRoster", "FuzzQuestionnaire", "FuzzRoutingRules", "FuzzConfig", "FuzzSyncRows"] {
        package.targets.append(.executableTarget(name: name, dependencies: ["HavenFuzzing"], path: "Fuzz/Sources/\(name)"))
        package.products.append(.executable(name: name, targets: [name]))
    }
}

