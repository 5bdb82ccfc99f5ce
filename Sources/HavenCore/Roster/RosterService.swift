import Foundation
import HavenLocking
import GRDB
import HavenPluginAPI
import HavenProto
import HavenStorage
import HavenWire

/// haven.v1.Roster: stage OneRoster files in chunks, then import them all or
/// nothing, streaming progress.
struct RosterService {
    let core: CoreModule

    var definition: ServiceDefinition {
        ServiceDefinition(name: "haven.v1.Roster", methods: [
            .unary("StageFile", Haven_V1_StageFileRequest.self, Haven_V1_StageFileResponse.self, access: .roles([.admin])) { request, context in
                let size = try await core.rosterStaging.stage(
                    importID: request.importID, owner: context.caller.staffID!, file: request.fileName,
                    chunk: Array(request.chunk), last: request.last)
                return .with { $0.bytesStaged = Int64(size) }
            },
            .serverStreaming("Import", Haven_V1_ImportRequest.self, Haven_V1_ImportProgress.self, access: .roles([.admin])) { request, context, writer in
                let files = try await core.rosterStaging.take(importID: request.importID, owner: context.caller.staffID!)
                let (progress, sink) = AsyncStream<Haven_V1_ImportProgress>.makeStream(bufferingPolicy: .bufferingNewest(8))
                // Progress flows from the validating and writing work to the
                // caller as it happens.
                async let report: Haven_V1_ImportReport = {
                    defer { sink.finish() }
                    return try await run(files, dryRun: request.dryRun, context: context) { phase, done, total in
                        sink.yield(.with { $0.phase = phase; $0.done = Int64(done); $0.total = Int64(total) })
                    }
                }()
                for await update in progress { try await writer.send(update) }
                let final = try await report
                try await writer.send(.with { $0.phase = "done"; $0.report = final })
            },
        ])
    }

    private func run(
        _ files: [String: [UInt8]], dryRun: Bool, context: CallContext,
        progress: @escaping @Sendable (String, Int, Int) -> Void
    ) async throws -> Haven_V1_ImportReport {
        let plan: OneRosterImport.Plan
        switch OneRosterImport.validate(files, progress: progress) {
        case .failure(let failure):
            let problems = failure.problems
            try await core.perform(context) { db in
                try core.audit(AuditRecord(action: "roster.import", purpose: "refused: \(problems.count) problems", outcome: "invalid"), context: context, db: db)
            }
            return .with {
                $0.applied = false
                $0.problemsTotal = Int64(problems.count)
                $0.problems = problems.prefix(OneRosterImport.maxListedProblems).map { p in
                    .with { $0.file = p.file; $0.line = Int64(p.line); $0.column = p.column; $0.message = p.message }
                }
            }
        case .success(let valid):
            plan = valid
        }
        if dryRun {
            return .with { $0.applied = false }
        }
        let now = StoredTime.ms(core.clock.now())
        // The writer may run this body twice (a group commit re-runs its
        // batch when another caller fails): report only progress beyond what
        // the caller has already been shown, so it never goes backwards.
        let shown = Locked(-1)
        let counts = try await core.perform(context) { db in
            let counts = try OneRosterImport.apply(plan, db: db, node: core.nodeID, now: now) { done, total in
                let ahead = shown.withLock { shown -> Bool in
                    guard done > shown else { return false }
                    shown = done
                    return true
                }
                if ahead { progress("writing", done, total) }
            }
            let summary = "schools +\(counts.schoolsAdded)/~\(counts.schoolsUpdated); students +\(counts.studentsAdded)/~\(counts.studentsUpdated)/-\(counts.studentsDeactivated); staff +\(counts.staffAdded)/~\(counts.staffUpdated)/-\(counts.staffDeactivated)"
            try core.audit(AuditRecord(action: "roster.import", purpose: summary), context: context, db: db)
            try core.publish(NewEvent(type: "roster.imported", attributes: [
                "students_added": "\(counts.studentsAdded)", "students_deactivated": "\(counts.studentsDeactivated)",
            ]), db: db)
            return counts
        }
        return .with {
            $0.applied = true
            $0.schoolsAdded = Int64(counts.schoolsAdded)
            $0.schoolsUpdated = Int64(counts.schoolsUpdated)
            $0.studentsAdded = Int64(counts.studentsAdded)
            $0.studentsUpdated = Int64(counts.studentsUpdated)
            $0.studentsDeactivated = Int64(counts.studentsDeactivated)
            $0.staffAdded = Int64(counts.staffAdded)
            $0.staffUpdated = Int64(counts.staffUpdated)
            $0.staffDeactivated = Int64(counts.staffDeactivated)
        }
    }
}
