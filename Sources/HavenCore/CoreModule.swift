import Foundation
import GRDB
import HavenLocking
import HavenPluginAPI
import HavenStorage
import HavenWire
import Logging

/// The core of the daemon: the domain services, and what plugins get from
/// the core (access checks, audit, outbox, directory).
public final class CoreModule: CoreServices {
    public let nodeID: String
    public let clock: any HavenClock
    public let database: HavenDatabase
    public let settings: CoreSettings
    public let policy: AccessPolicy
    public let signal = OutboxSignal()
    public let localAdminStaffID: String
    let logger: Logger
    let localAdminUIDs: Set<UInt32>
    let rosterStaging = RosterStaging()
    let identities = IdentityCache()
    /// This daemon as a node: identity, enrolled nodes, link to a server.
    public let nodeSync = NodeSync()
    /// Every synced table: the core's and those plugins register.
    public let syncRegistry = SyncRegistry()
    /// A desktop's sync with its school server (idle unless linked).
    public var syncAgent: SyncAgent {
        agent.withLock { agent in
            if let agent { return agent }
            let made = SyncAgent(core: self)
            agent = made
            return made
        }
    }
    private let agent = Locked<SyncAgent?>(nil)

    /// Opens the core on a migrated database: makes sure the node id and the
    /// built-in local administrator account exist.
    public init(database: HavenDatabase, settings: CoreSettings, clock: any HavenClock = SystemClock(), daemonUID: UInt32, logger: Logger) throws {
        self.database = database
        self.settings = settings
        self.clock = clock
        self.logger = logger
        self.policy = AccessPolicy(settings: settings)
        self.localAdminUIDs = Set(settings.localAdminUIDs ?? [0, daemonUID])
        database.pool.add(transactionObserver: identities.observer(), extent: .databaseLifetime)
        let nodeID = try CoreSchema.nodeID(database)
        self.nodeID = nodeID
        let now = StoredTime.ms(clock.now())
        self.localAdminStaffID = try database.pool.write { db in
            if let id = try CoreSchema.meta(db, "local_admin_staff_id") { return id }
            let id = RecordID.make()
            try StaffStore.insert(db, id: id, sourceID: nil, displayName: "Local administrator", email: "", node: nodeID, now: now)
            try StaffStore.setRoles(db, staffID: id, roles: [.admin])
            try CoreSchema.setMeta(db, "local_admin_staff_id", id)
            return id
        }
        let isLinked = try database.pool.read { db in
            try nodeSync.registry.load(db)
            return try SyncLink.read(db) != nil
        }
        noteLinked(isLinked)
    }

    // MARK: CoreServices

    public func perform<T: Sendable>(_ context: CallContext, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            // The writer runs the body in its own savepoint: a denial rolls
            // back whatever the body wrote before it was refused.
            return try await database.writer.write(.full, body)
        } catch let denied as AccessDenied {
            try await database.writer.write { [self] db in
                try audit(AuditRecord(action: "access.denied", studentID: denied.studentID, recordIDs: denied.recordIDs, outcome: "denied"),
                          context: context, db: db)
            }
            throw RPCError.permissionDenied(denied.message)
        }
    }

    public func read<T: Sendable>(_ context: CallContext, _ body: @escaping @Sendable (Database, ReadAudit) throws -> T) async throws -> T {
        try await read(context, onThisThreadWithin: nil, body)
    }

    /// `onThisThreadWithin`: the read runs on the calling thread, with no
    /// hand-off, when a database connection is idle — for a method that runs
    /// on its connection's event loop (`runningOnEventLoop`), which the read
    /// then holds: at most about `budget`, after which it runs again on a
    /// database thread (see `TracedReaders.read`).
    public func read<T: Sendable>(
        _ context: CallContext, onThisThreadWithin budget: Duration?, _ body: @escaping @Sendable (Database, ReadAudit) throws -> T
    ) async throws -> T {
        // The read's audit entries are committed before its answer leaves.
        let outcome: Result<T, AccessDenied> = try await database.tracedRead(onThisThreadWithin: budget) { [self] db in
            let trail = ReadAudit()
            do {
                let value = try body(db, trail)
                let records = trail.records
                guard !records.isEmpty else { return (.success(value), nil) }
                return (.success(value), { db in
                    for record in records { try self.audit(record, context: context, db: db) }
                })
            } catch let denied as AccessDenied {
                return (.failure(denied), nil)
            }
        }
        switch outcome {
        case .success(let value):
            return value
        case .failure(let denied):
            try await database.writer.write { [self] db in
                try audit(AuditRecord(action: "access.denied", studentID: denied.studentID, recordIDs: denied.recordIDs, outcome: "denied"),
                          context: context, db: db)
            }
            throw RPCError.permissionDenied(denied.message)
        }
    }

    public func access(for caller: Caller, studentID: String, db: Database) throws -> AccessDecision {
        try policy.decide(caller, studentID: studentID, db: db, now: clock.now())
    }

    public func requireAccess(_ caller: Caller, studentID: String, db: Database) throws -> AccessDecision {
        guard try StudentStore.student(db, id: studentID) != nil else {
            throw RPCError.notFound("there is no student \(studentID)")
        }
        let decision = try access(for: caller, studentID: studentID, db: db)
        guard decision.isFull else { throw AccessDenied(decision.explanation, studentID: studentID) }
        return decision
    }

    public func audit(_ record: AuditRecord, context: CallContext, db: Database) throws {
        let caller = context.caller
        try AuditLog.append(db, AuditEntryData(
            id: RecordID.make(), at: StoredTime.ms(clock.now()),
            actorID: caller.staffID ?? caller.inactiveStaffID ?? caller.peer.map { "uid:\($0.uid)" } ?? "anonymous",
            actorName: caller.inactiveStaffID == nil ? caller.displayName ?? "" : "\(caller.displayName ?? "") (deactivated)", actorRoles: caller.roles.sorted().map(\.rawValue).joined(separator: ","),
            action: record.action, studentID: record.studentID ?? "", recordIDs: record.recordIDs.joined(separator: ","),
            fields: record.fields.joined(separator: ","), purpose: record.purpose, outcome: record.outcome,
            method: context.call.fullMethod, node: nodeID))
    }

    public func auditSystem(_ record: AuditRecord, db: Database) throws {
        try AuditLog.append(db, AuditEntryData(
            id: RecordID.make(), at: StoredTime.ms(clock.now()), actorID: "system", actorName: "havend", actorRoles: "",
            action: record.action, studentID: record.studentID ?? "", recordIDs: record.recordIDs.joined(separator: ","),
            fields: record.fields.joined(separator: ","), purpose: record.purpose, outcome: record.outcome, method: "", node: nodeID))
    }

    @discardableResult
    public func publish(_ event: NewEvent, db: Database) throws -> Int64 {
        try Outbox.publish(db, event, node: nodeID, at: clock.now(), signal: signal)
    }

    public func student(_ id: String, db: Database) throws -> StudentRecord? {
        try StudentStore.student(db, id: id)
    }

    /// The Haven id of a student named by Haven id or roster sourcedId.
    func canonicalStudentID(_ id: String, db: Database) throws -> String {
        guard let student = try StudentStore.student(db, id: id) else { throw RPCError.notFound("there is no student \(id)") }
        return student.id
    }

    public func staffMember(_ id: String, db: Database) throws -> StaffRecord? {
        try StaffStore.record(db, id: id)
    }

    public func staff(withAnyRole roles: Set<Role>, schoolID: String?, db: Database) throws -> [StaffRecord] {
        try StaffStore.withAnyRole(db, roles: roles, schoolID: schoolID)
    }

    public func schools(db: Database) throws -> [(id: String, name: String)] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT id, name FROM schools WHERE active = 1 ORDER BY name")).map { ($0["id"], $0["name"]) }
    }

    public func studentIDs(schoolID: String, db: Database) throws -> [String] {
        try String.fetchAll(db.cachedStatement(sql: "SELECT id FROM students WHERE school_id = ? AND active = 1 ORDER BY family_name, given_name"), arguments: [schoolID])
    }

    public func caseloadStaff(studentID: String, db: Database) throws -> [StaffRecord] {
        try String.fetchAll(db.cachedStatement(sql: "SELECT staff_id FROM caseload WHERE student_id = ? ORDER BY assigned_at"), arguments: [studentID])
            .compactMap { try StaffStore.record(db, id: $0) }.filter(\.active)
    }

    public func notify(staffID: String, kind: String, message: String, studentID: String?, subjectID: String?, db: Database) throws {
        try NotificationStore.insert(db, recipient: staffID, kind: kind, message: message, studentID: studentID, subjectID: subjectID,
                                     node: nodeID, at: StoredTime.ms(clock.now()))
    }

    public func registerAssignmentProvider(_ provider: any AssignmentProvider) {
        policy.register(provider)
    }

    public func registerSync(_ participant: SyncParticipant) {
        syncRegistry.register(participant)
    }

    /// False once this desktop is linked to a school server (Docs/sync.md).
    public var routesLocally: Bool { !linked.withLock { $0 } }
    private let linked = Locked(false)

    /// Read at start and set on enrolment.
    func noteLinked(_ value: Bool) { linked.withLock { $0 = value } }

    // MARK: Assembly

    /// The core's services.
    public var services: [ServiceDefinition] {
        [
            RosterService(core: self).definition,
            StudentsService(core: self).definition,
            StaffService(core: self).definition,
            TokensService(core: self).definition,
            ConcernsService(core: self).definition,
            AccessService(core: self).definition,
            TimelineService(core: self).definition,
            AuditService(core: self).definition,
            EventsService(core: self).definition,
            NotificationsService(core: self).definition,
            NodesService(core: self).definition,
            SyncService(core: self).definition,
        ]
    }

    public var resolver: CoreCallerResolver { CoreCallerResolver(core: self) }

    /// Timeline contributions from plugins, set by the daemon once plugins run.
    public let timelineContributors = TimelineContributors()
}
