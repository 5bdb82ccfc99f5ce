#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The two ways havend runs, and where each keeps its socket, data and config.
public enum DaemonMode: String, Sendable, CaseIterable {
    /// A counselor's own machine: everything under the user's XDG directories.
    case desktop
    /// A school server: /run/haven, /var/lib/haven, /etc/haven.
    case server
}

/// Default locations, shared by havend (where to listen) and haven (where to
/// connect), so the two always agree.
public struct DefaultPaths: Sendable, Equatable {
    public var socket: String
    public var dataDirectory: String
    public var configFile: String

    public static func forMode(_ mode: DaemonMode, environment: [String: String] = ProcessInfo.processInfo.environment) -> DefaultPaths {
        switch mode {
        case .server:
            return DefaultPaths(socket: "/run/haven/haven.sock", dataDirectory: "/var/lib/haven", configFile: "/etc/haven/havend.toml")
        case .desktop:
            let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
            let runtime = environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp/haven-\(getuid())"
            let data = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.local/share"
            let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.config"
            return DefaultPaths(socket: "\(runtime)/haven/haven.sock", dataDirectory: "\(data)/haven", configFile: "\(config)/haven/havend.toml")
        }
    }

    /// Where a client should look for the daemon when told nothing: the
    /// HAVEN_SOCKET variable, then the desktop socket if it exists, then the
    /// server socket if it exists, else the desktop one (for the error message).
    public static func clientSocketCandidates(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        if let explicit = environment["HAVEN_SOCKET"], !explicit.isEmpty { return [explicit] }
        return [forMode(.desktop, environment: environment).socket, forMode(.server, environment: environment).socket]
    }
}
