/// The OneRoster validator as the fuzzers and the corpus replay test call
/// it: any bytes as any files must end in a plan or a list of problems.
package enum OneRosterFuzzEntry {
    /// Validates `files`; returns how many problems were reported (0: a plan).
    package static func validate(_ files: [String: [UInt8]]) -> Int {
        switch OneRosterImport.validate(files, progress: { _, _, _ in }) {
        case .success: 0
        case .failure(let problems): max(problems.problems.count, 1)
        }
    }
}
