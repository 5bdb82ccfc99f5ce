import GRDB

/// A write the disk refused — full, read-only, or failing — said the way a
/// caller can act on. SQLite rolled the write back, so nothing of it was saved,
/// and what was acknowledged before is untouched. Once the fault clears
/// (space freed, permissions restored) the next write simply succeeds.
public struct StorageFault: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        case diskFull, readOnly, ioError
    }

    public let kind: Kind
    public let description: String

    /// `error` as a StorageFault when it is one of the disk's refusals; otherwise `error` itself.
    public static func classify(_ error: any Error) -> any Error {
        guard let error = error as? DatabaseError else { return error }
        switch error.resultCode {
        case .SQLITE_FULL:
            return StorageFault(kind: .diskFull, description: "the disk holding the Haven database is full, so this was not saved; ask the administrator to free space, then try again")
        case .SQLITE_READONLY:
            return StorageFault(kind: .readOnly, description: "the Haven database is read-only (file permissions or a read-only mount), so this was not saved; ask the administrator")
        case .SQLITE_IOERR, .SQLITE_CANTOPEN:
            return StorageFault(kind: .ioError, description: "the disk holding the Haven database reported an I/O error, so this was not saved; ask the administrator to check the disk")
        default:
            return error
        }
    }
}
