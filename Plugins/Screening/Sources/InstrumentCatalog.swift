import Foundation
import GRDB
import HavenJSON
import HavenStorage
import HavenLocking

/// The instruments this daemon knows, parsed once: the built-in ones shipped
/// in the plugin's resources and those a school imported. Every version is
/// kept, because a stored result names the exact version that scored it.
final class InstrumentCatalog: Sendable {
    private struct State {
        var byID: [String: [Instrument]] = [:]   // versions in the order they were added
    }
    private let state = Locked(State())

    func add(_ instrument: Instrument) {
        state.withLock { $0.byID[instrument.id, default: []].append(instrument) }
    }

    /// The given version, or the newest.
    func instrument(_ id: String, version: String? = nil) -> Instrument? {
        state.withLock { state in
            guard let versions = state.byID[id] else { return nil }
            if let version, !version.isEmpty { return versions.first { $0.version == version } }
            return versions.last
        }
    }

    var latest: [Instrument] { state.withLock { $0.byID.values.compactMap(\.last).sorted { $0.id < $1.id } } }

    var ids: [String] { state.withLock { $0.byID.keys.sorted() } }

    /// The built-in definitions shipped as files in the plugin's resources.
    static func builtinDocuments() throws -> [(name: String, bytes: [UInt8])] {
        guard let directory = Bundle.module.url(forResource: "BuiltinInstruments", withExtension: nil) else {
            throw CatalogError("the built-in instrument files are missing from the screening plugin's resources")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
        return try files.map { name in (name, Array(try Data(contentsOf: directory.appendingPathComponent(name)))) }
    }

    /// Loads the built-ins (storing any this database lacks) and every imported instrument.
    func load(database: HavenDatabase, node: String) throws {
        var builtinIDs: Set<String> = []
        for (name, bytes) in try Self.builtinDocuments() {
            switch InstrumentDocument.parse(bytes, builtin: true) {
            case .success(let instrument):
                builtinIDs.insert(instrument.id)
                let text = String(decoding: bytes, as: UTF8.self)
                try database.pool.write { db in
                    if try !ScreeningStore.instrumentExists(db, id: instrument.id, version: instrument.version) {
                        try ScreeningStore.insertInstrument(db, instrument, document: text, by: "", node: node, at: StoredTime.ms(Date()))
                    }
                }
            case .failure(let failure):
                throw CatalogError("built-in instrument \(name) is invalid: \(failure.problems.map(\.description).joined(separator: "; "))")
            }
        }
        for (document, builtin) in try database.pool.read({ db in try ScreeningStore.documents(db) }) {
            if case .success(let instrument) = InstrumentDocument.parse(Array(document.utf8), builtin: builtin) { add(instrument) }
        }
    }
}

struct CatalogError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
