import ArgumentParser
import HavenCLI

/// The executable's entry point: the command tree lives in HavenCLI.
/// (An async root command must carry @main itself to run asynchronously.)
@main
struct Haven: AsyncParsableCommand {
    static let configuration = HavenCommand.configuration
}
