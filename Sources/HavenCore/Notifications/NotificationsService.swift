import HavenPluginAPI
import HavenProto
import HavenStorage

/// haven.v1.Notifications: a staff member's own notifications.
struct NotificationsService {
    let core: CoreModule

    var definition: ServiceDefinition {
        ServiceDefinition(name: "haven.v1.Notifications", methods: [
            .unary("List", Haven_V1_ListNotificationsRequest.self, Haven_V1_ListNotificationsResponse.self, access: .staff) { request, context in
                let staffID = context.caller.staffID!
                return try await core.perform(context) { db in
                    let items = try NotificationStore.list(db, recipient: staffID, unreadOnly: request.unreadOnly)
                    try core.audit(AuditRecord(action: "notification.list", recordIDs: items.map(\.id)), context: context, db: db)
                    return .with { $0.notifications = items }
                }
            },
            .unary("MarkRead", Haven_V1_MarkReadRequest.self, Haven_V1_MarkReadResponse.self, access: .staff) { request, context in
                let staffID = context.caller.staffID!
                let now = StoredTime.ms(core.clock.now())
                return try await core.perform(context) { db in
                    let marked = try NotificationStore.markRead(db, recipient: staffID, ids: request.notificationIds, at: now)
                    return .with { $0.marked = Int32(marked) }
                }
            },
        ])
    }
}
