import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenStorage
import HavenWire
import HavenTime

/// haven.v1.Timeline: everything about one student in time order — concerns,
/// notes, amendments, status changes, grants, emergency access, and what
/// plugins contribute — each entry filtered by what the caller may see.
struct TimelineService {
    let core: CoreModule

    /// How long a timeline read may hold its connection's event loop (a
    /// typical one, about ten concerns, takes half a millisecond).
    static let longestReadOnTheLoop: Duration = .milliseconds(5)

    var definition: ServiceDefinition {
        ServiceDefinition(name: "haven.v1.Timeline", methods: [
            .unaryEncoded("Get", Haven_V1_GetTimelineRequest.self, Haven_V1_GetTimelineResponse.self, access: .staff) { request, context in
                let from = request.hasFrom ? request.from.ms : Int64.min
                let to = request.hasTo ? request.to.ms : Int64.max
                let contributors = core.timelineContributors.all
                // On the event loop's own thread (no hand-off to a database
                // thread and back: two wake-ups, a tenth of the read's CPU).
                // Every other connection on the loop waits meanwhile, so a
                // long timeline, one SQLite is still reading after the
                // budget, is read again on a database thread.
                return try await core.read(context, onThisThreadWithin: Self.longestReadOnTheLoop) { db, trail in
                    guard let (student, studentMessage) = try StudentStore.recordAndMessage(db, id: request.studentID) else {
                        throw RPCError.notFound("there is no student \(request.studentID)")
                    }
                    let decision = try core.access(for: context.caller, studentID: student.id, db: db)
                    guard decision.scope != .none else { throw AccessDenied(decision.explanation, studentID: student.id) }
                    let me = context.caller.staffID!
                    var entries: [TimelineEntry] = []
                    var hidden = 0

                    // A value as staff read it: a time, not its stored ms; an empty one named.
                    func shown(_ field: String, _ stored: String) -> String {
                        stored.isEmpty ? "(none)" : ConcernRules.shownValue(field: field, stored: stored)
                    }
                    let labels = Dictionary(uniqueKeysWithValues: core.settings.categories.map { ($0.code, $0.label) })
                    for concern in try TimelineConcern.all(db, studentID: student.id) {
                        guard decision.isFull || concern.reporterID == me else {
                            hidden += 1 + concern.entries.count
                            continue
                        }
                        entries.append(TimelineEntry(
                            id: concern.id, kind: "concern", occurredAt: StoredTime.date(concern.observedAt),
                            title: "Concern: \(labels[concern.category] ?? concern.category) (\(concern.severity)), reported by \(concern.reporterName)",
                            detail: concern.narrative, recordID: concern.id, source: "core"))
                        for note in concern.entries {
                            let (title, detail): (String, String) = switch note.kind {
                            case "note": ("Note by \(note.authorName)", note.body)
                            case "amendment": ("\(note.authorName) corrected \(note.field)", "\(note.field == "narrative" ? "" : "\(shown(note.field, note.oldValue)) → \(shown(note.field, note.newValue)). ")Reason: \(note.body)")
                            default: ("Status: \(note.status)\(note.disposition.isEmpty ? "" : " (\(note.disposition))") by \(note.authorName)", note.body)
                            }
                            entries.append(TimelineEntry(id: note.id, kind: note.kind, occurredAt: StoredTime.date(note.createdAt), title: title,
                                                         detail: detail, recordID: concern.id, source: "core"))
                        }
                    }
                    if decision.isFull {
                        for id in try AccessStore.grantIDs(db, studentID: student.id, granteeID: nil, includeEnded: true, now: 0) {
                            guard let grant = try AccessStore.grant(db, id: id) else { continue }
                            let until = RFC3339.wholeSeconds(grant.expiresAt.date)
                            entries.append(TimelineEntry(
                                id: grant.id, kind: "grant", occurredAt: grant.createdAt.date,
                                title: "\(grant.grantedByName) granted \(grant.granteeName) access\(grant.lawEnforcement ? " (law enforcement)" : "")",
                                detail: "Purpose: \(grant.purpose). Until \(until)\(grant.hasRevokedAt ? "; revoked: \(grant.revokeReason)" : "").",
                                recordID: grant.id, source: "core"))
                        }
                        for id in try String.fetchAll(db.cachedStatement(sql: "SELECT id FROM emergency_access WHERE student_id = ?"), arguments: [student.id]) {
                            guard let e = try AccessStore.emergency(db, id: id) else { continue }
                            entries.append(TimelineEntry(
                                id: e.id, kind: "emergency_access", occurredAt: e.createdAt.date,
                                title: "\(e.staffName) opened emergency access", detail: "Reason: \(e.reason)", recordID: e.id, source: "core"))
                        }
                    } else {
                        hidden += try Int.fetchOne(db.cachedStatement(sql: "SELECT (SELECT COUNT(*) FROM grants WHERE student_id = ?) + (SELECT COUNT(*) FROM emergency_access WHERE student_id = ?)"),
                                                   arguments: [student.id, student.id]) ?? 0
                    }
                    for (_, contributor) in contributors {
                        entries += try contributor.timelineEntries(studentID: student.id, access: decision, caller: context.caller, db: db)
                    }
                    entries = entries
                        .filter { let ms = StoredTime.ms($0.occurredAt); return ms >= from && ms < to }
                        .sorted { ($0.occurredAt, $0.id) < ($1.occurredAt, $1.id) }
                    trail.record(AuditRecord(action: "timeline.read", studentID: student.id, recordIDs: entries.map(\.recordID),
                                             fields: ["timeline"], purpose: decision.basis))
                    // Encoded here, inside the read: on the ordinary path
                    // (no idle connection) this is the database's thread, not
                    // the event loop.
                    return try Haven_V1_GetTimelineResponse.with {
                        $0.student = studentMessage
                        $0.entries = entries.map { e in
                            .with {
                                $0.id = e.id
                                $0.kind = e.kind
                                $0.occurredAt = .init(date: e.occurredAt)
                                $0.title = e.title
                                $0.detail = e.detail
                                $0.recordID = e.recordID
                                $0.source = e.source
                            }
                        }
                        $0.hiddenEntries = Int32(hidden)
                    }.serializedBytes() as [UInt8]
                }
            }
            // Its work, encoding the answer included, is the database
            // closure above, which runs on the loop unless it is long.
            .runningOnEventLoop(),
        ])
    }
}
