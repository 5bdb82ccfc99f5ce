import Foundation

/// Where the built havend and haven executables are: $HAVEN_BIN_DIR, else
/// the package's .build/debug (Scripts/test builds them before testing).
public enum Binaries {
    public static var directory: String {
        if let dir = ProcessInfo.processInfo.environment["HAVEN_BIN_DIR"], !dir.isEmpty { return dir }
        return packageRoot + "/.build/debug"
    }

    /// The package root, found from this file's location.
    public static var packageRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }

    public static var havend: String { directory + "/havend" }
    public static var haven: String { directory + "/haven" }
}
