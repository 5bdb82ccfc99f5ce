import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenStorage

/// haven.v1.Events: the outbox as a stream for outside tools, resumable from
/// a sequence number. Events carry ids and codes, never narrative.
struct EventsService {
    let core: CoreModule

    var definition: ServiceDefinition {
        ServiceDefinition(name: "haven.v1.Events", methods: [
            // Who may follow the stream is the school's choice ([access] event_roles),
            // so Describe and the router both see the configured roles.
            .serverStreaming("Subscribe", Haven_V1_SubscribeRequest.self, Haven_V1_Event.self, access: .roles(core.settings.eventRoles)) { request, context, writer in
                let types = Set(request.types)
                var cursor = try await core.perform(context) { db -> Int64 in
                    try core.audit(AuditRecord(action: "events.subscribe", purpose: "from \(request.fromSequence)"), context: context, db: db)
                    return request.fromSequence > 0 ? request.fromSequence - 1 : try Outbox.head(db)
                }
                while !Task.isCancelled {
                    let generation = core.signal.current
                    // Events and the head from one snapshot: with no matching event up
                    // to that head, the cursor may skip to it.
                    let from = cursor
                    let (events, head) = try await core.database.pool.read { db in
                        (try Outbox.events(db, after: from, types: types, limit: 500), try Outbox.head(db))
                    }
                    for event in events {
                        try await writer.send(Self.message(event))
                        cursor = event.sequence
                    }
                    if events.isEmpty {
                        cursor = max(cursor, head)
                        await core.signal.wait(after: generation, timeout: .seconds(1))
                    }
                }
            },
        ])
    }

    static func message(_ event: DomainEvent) -> Haven_V1_Event {
        Haven_V1_Event.with {
            $0.sequence = event.sequence
            $0.id = event.id
            $0.type = event.type
            $0.occurredAt = .init(date: event.occurredAt)
            $0.studentID = event.studentID ?? ""
            $0.schoolID = event.schoolID ?? ""
            $0.subjectID = event.subjectID ?? ""
            $0.originNode = event.originNode
            $0.attributes = event.attributes
        }
    }
}
