/// The instrument importer as the fuzzers and the corpus replay test call
/// it: any bytes must end in an instrument or a list of problems.
package enum InstrumentFuzzEntry {
    /// Parses `bytes` as an instrument document; true when it was accepted.
    package static func parse(_ bytes: [UInt8]) -> Bool {
        if case .success = InstrumentDocument.parse(bytes) { return true }
        return false
    }
}
