import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenStorage
import HavenWire

/// haven.v1.Tokens: secrets for tools and remote users, shown once and
/// stored only as a hash; revocable; they expire.
struct TokensService {
    let core: CoreModule

    var definition: ServiceDefinition {
        ServiceDefinition(name: "haven.v1.Tokens", methods: [
            .unary("Create", Haven_V1_CreateTokenRequest.self, Haven_V1_CreateTokenResponse.self, access: .staff) { request, context in
                let staffID = request.staffID.nonEmpty ?? context.caller.staffID!
                guard let name = request.name.nonEmpty else { throw RPCError.invalidArgument("name: say what the token is for") }
                let days = request.validDays == 0 ? 90 : request.validDays
                guard (1...730).contains(days) else { throw RPCError.invalidArgument("valid_days must be from 1 to 730 (got \(days))") }
                let secret = TokenSecret.make()
                let id = RecordID.make()
                let now = core.clock.now()
                return try await core.perform(context) { db in
                    if staffID != context.caller.staffID, !context.caller.has(.admin) {
                        throw AccessDenied("only an admin may create a token for someone else")
                    }
                    guard let staff = try StaffStore.record(db, id: staffID), staff.active else {
                        throw RPCError.notFound("there is no active staff member \(staffID)")
                    }
                    try db.executeCached("""
                        INSERT INTO tokens (id, staff_id, name, secret_hash, prefix, created_by, created_at, expires_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """, [id, staffID, name, TokenSecret.hash(secret), String(secret.prefix(10)), context.caller.staffID!,
                                         StoredTime.ms(now), StoredTime.ms(now.addingTimeInterval(Double(days) * 86_400))])
                    try core.audit(AuditRecord(action: "token.create", recordIDs: [id, staffID]), context: context, db: db)
                    return .with {
                        $0.token = try! Self.info(db, id)!
                        $0.secret = secret
                    }
                }
            },
            .unary("List", Haven_V1_ListTokensRequest.self, Haven_V1_ListTokensResponse.self, access: .staff) { request, context in
                try await core.perform(context) { db in
                    var sql = "SELECT id FROM tokens"
                    var arguments: StatementArguments = []
                    if !context.caller.has(.admin) {
                        sql += " WHERE staff_id = ?"
                        arguments += [context.caller.staffID!]
                    } else if let staffID = request.staffID.nonEmpty {
                        sql += " WHERE staff_id = ?"
                        arguments += [staffID]
                    }
                    let ids = try String.fetchAll(db, sql: sql + " ORDER BY created_at DESC", arguments: arguments)
                    return .with { $0.tokens = ids.compactMap { try? Self.info(db, $0) } }
                }
            },
            .unary("Revoke", Haven_V1_RevokeTokenRequest.self, Haven_V1_TokenInfo.self, access: .staff) { request, context in
                let now = StoredTime.ms(core.clock.now())
                return try await core.perform(context) { db in
                    guard let owner = try String.fetchOne(db.cachedStatement(sql: "SELECT staff_id FROM tokens WHERE id = ?"), arguments: [request.tokenID]) else {
                        throw RPCError.notFound("there is no token \(request.tokenID)")
                    }
                    if owner != context.caller.staffID, !context.caller.has(.admin) {
                        throw AccessDenied("only an admin may revoke someone else's token")
                    }
                    try db.executeCached("UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", [now, request.tokenID])
                    try core.audit(AuditRecord(action: "token.revoke", recordIDs: [request.tokenID, owner]), context: context, db: db)
                    return try Self.info(db, request.tokenID)!
                }
            },
        ])
    }

    static func info(_ db: Database, _ id: String) throws -> Haven_V1_TokenInfo? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM tokens WHERE id = ?"), arguments: [id]) else { return nil }
        return Haven_V1_TokenInfo.with {
            $0.id = row["id"]
            $0.staffID = row["staff_id"]
            $0.name = row["name"]
            $0.createdAt = .init(ms: row["created_at"])
            $0.expiresAt = .init(ms: row["expires_at"])
            if let revoked: Int64 = row["revoked_at"] { $0.revokedAt = .init(ms: revoked) }
            $0.prefix = row["prefix"]
        }
    }
}
