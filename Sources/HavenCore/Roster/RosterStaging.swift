import Foundation
import HavenWire

/// Files of a roster import, uploaded in chunks before the import runs.
/// Bounded (size, count, age) so a client cannot make the daemon hold
/// unbounded memory.
actor RosterStaging {
    static let maxChunk = 1 << 20
    static let maxImportBytes = 512 << 20
    static let maxImports = 4
    static let maxAge: TimeInterval = 3600

    private struct Staged {
        var owner: String
        var files: [String: [UInt8]] = [:]
        var complete: Set<String> = []
        var bytes = 0
        var touched = Date()
    }

    private var imports: [String: Staged] = [:]

    func stage(importID: String, owner: String, file: String, chunk: [UInt8], last: Bool) throws -> Int {
        expire()
        guard !importID.isEmpty, importID.count <= 64 else { throw RPCError.invalidArgument("import_id: give a short id (a UUID) for this import") }
        guard OneRosterImport.files.contains(file) else {
            throw RPCError.invalidArgument("file_name: Haven imports \(OneRosterImport.files.joined(separator: ", ")); \"\(file)\" is not one of them")
        }
        guard chunk.count <= Self.maxChunk else { throw RPCError.invalidArgument("chunk: at most 1 MiB per call") }
        var staged = imports[importID] ?? Staged(owner: owner)
        if imports[importID] == nil, imports.count >= Self.maxImports {
            throw RPCError.resourceExhausted("\(Self.maxImports) imports are already being staged; finish or wait for them")
        }
        guard staged.owner == owner else { throw RPCError.permissionDenied("import \(importID) belongs to someone else") }
        guard !staged.complete.contains(file) else { throw RPCError.failedPrecondition("\(file) was already completed in import \(importID)") }
        guard staged.bytes + chunk.count <= Self.maxImportBytes else {
            throw RPCError.resourceExhausted("an import holds at most \(Self.maxImportBytes >> 20) MiB")
        }
        staged.files[file, default: []].append(contentsOf: chunk)
        staged.bytes += chunk.count
        if last { staged.complete.insert(file) }
        staged.touched = Date()
        imports[importID] = staged
        return staged.files[file]!.count
    }

    /// Takes the staged files out (an import runs once).
    func take(importID: String, owner: String) throws -> [String: [UInt8]] {
        guard let staged = imports[importID] else { throw RPCError.notFound("nothing is staged for import \(importID); upload the files first") }
        guard staged.owner == owner else { throw RPCError.permissionDenied("import \(importID) belongs to someone else") }
        let incomplete = Set(staged.files.keys).subtracting(staged.complete)
        guard incomplete.isEmpty else {
            throw RPCError.failedPrecondition("these files were not uploaded completely: \(incomplete.sorted().joined(separator: ", "))")
        }
        imports[importID] = nil
        return staged.files
    }

    private func expire() {
        let cutoff = Date().addingTimeInterval(-Self.maxAge)
        imports = imports.filter { $0.value.touched > cutoff }
    }
}
