import ArgumentParser
import Foundation
import HavenProto

/// `haven roster import DIR`: OneRoster 1.1 CSV, all or nothing.
struct RosterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "roster", abstract: "Import the school roster.", subcommands: [Import.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a OneRoster 1.1 CSV export (orgs.csv, users.csv, and enrollments.csv, demographics.csv where present).",
            discussion: "The import is all or nothing: if any row has a problem, every problem is listed (file, line, column) and nothing changes.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The directory holding the CSV files.") var directory: String
        @Flag(help: "Check the files and report, without changing anything.") var dryRun = false

        func run() async throws {
            var files: [(String, Data)] = []
            for name in ["orgs.csv", "users.csv", "enrollments.csv", "demographics.csv"] {
                let path = (directory as NSString).appendingPathComponent(name)
                if let data = FileManager.default.contents(atPath: path) { files.append((name, data)) }
            }
            guard !files.isEmpty else {
                throw CLIFailure("no OneRoster files (orgs.csv, users.csv, ...) in \(directory)", exitCode: ExitStatus.usage)
            }
            try await withSession(global) { session in
                let importID = UUID().uuidString
                let chunk = 1 << 20
                let total = files.reduce(0) { $0 + $1.1.count }
                var sent = 0
                for (name, data) in files {
                    var offset = 0
                    repeat {
                        let end = min(offset + chunk, data.count)
                        let request = Haven_V1_StageFileRequest.with {
                            $0.importID = importID
                            $0.fileName = name
                            $0.chunk = data.subdata(in: offset..<end)
                            $0.last = end == data.count
                        }
                        let _: Haven_V1_StageFileResponse = try await session.unary("haven.v1.Roster", "StageFile", request)
                        sent += end - offset
                        offset = end
                        Progress.show("uploading", sent, total)
                    } while offset < data.count
                }
                let stream = try session.client.serverStream(
                    "haven.v1.Roster", "Import", Haven_V1_ImportRequest.with { $0.importID = importID; $0.dryRun = dryRun },
                    as: Haven_V1_ImportProgress.self)
                var report: Haven_V1_ImportReport?
                for try await update in stream {
                    if update.hasReport { report = update.report } else { Progress.show(update.phase, Int(update.done), Int(update.total)) }
                }
                Progress.finish()
                guard let report else { throw CLIFailure("the import ended without a report", exitCode: ExitStatus.serverError) }
                try emit(report, global) { Self.render(report, dryRun: dryRun) }
                if !report.problems.isEmpty { throw ExitCode(ExitStatus.serverError) }
            }
        }

        static func render(_ r: Haven_V1_ImportReport, dryRun: Bool) -> String {
            if !r.problems.isEmpty {
                var lines = ["The roster was not imported: \(r.problemsTotal) problem(s) found; nothing was changed."]
                for p in r.problems {
                    lines.append(p.column.isEmpty ? "\(p.file):\(p.line): \(p.message)" : "\(p.file):\(p.line): \(p.column): \(p.message)")
                }
                if r.problemsTotal > Int64(r.problems.count) { lines.append("... and \(r.problemsTotal - Int64(r.problems.count)) more") }
                return lines.joined(separator: "\n")
            }
            if dryRun { return "The files are valid; nothing was changed (dry run)." }
            return """
                Roster imported.
                  schools:  \(r.schoolsAdded) added, \(r.schoolsUpdated) updated
                  students: \(r.studentsAdded) added, \(r.studentsUpdated) updated, \(r.studentsDeactivated) marked inactive
                  staff:    \(r.staffAdded) added, \(r.staffUpdated) updated, \(r.staffDeactivated) deactivated
                """
        }
    }
}

/// A one-line progress display on standard error, when it is a terminal.
enum Progress {
    static let interactive = isatty(STDERR_FILENO) == 1

    static func show(_ phase: String, _ done: Int, _ total: Int) {
        guard interactive else { return }
        let percent = total > 0 ? done * 100 / total : 0
        FileHandle.standardError.write(Data("\r\(phase): \(done)/\(total) (\(percent)%)   ".utf8))
    }

    static func finish() {
        guard interactive else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
