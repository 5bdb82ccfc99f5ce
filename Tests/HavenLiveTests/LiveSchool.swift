import Foundation
import HavenTestSupport

extension DaemonProcess {
    /// A daemon with a roster, an on-duty counselor, a designated lead and a teacher; returns tokens by name.
    func seedSchool() async throws -> [String: String] {
        for (name, text) in SyntheticRoster.make(schools: 1, studentsPerSchool: 3).files { _ = try directory.write("roster/\(name)", text) }
        guard try await cli(["roster", "import", directory.file("roster")]).status == 0 else { throw TestFailure("import") }
        func json(_ args: [String]) async throws -> [String: Any] {
            let r = try await cli(args + ["--output", "json"])
            guard r.status == 0 else { throw TestFailure("\(args): \(r.stderr)") }
            return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        }
        let school = ((try await json(["student", "show", "stu-1-1"]))["student"] as! [String: Any])["schoolId"] as! String
        var tokens: [String: String] = [:]
        for (name, role) in [("counselor", "counselor"), ("lead", "administrator"), ("teacher", "teacher")] {
            let id = ((try await json(["staff", "add", "--name", name, "--role", role, "--school", school]))["staff"] as! [String: Any])["id"] as! String
            tokens[name] = (try await json(["token", "create", "--staff", id, "--name", "t"]))["secret"] as? String
            if name != "teacher" {
                _ = try await json(["duty", "set", "--school", school, "--duty", name == "counselor" ? "counselor" : "designated_lead", "--staff", id])
            }
            if name == "counselor" { _ = try await cli(["caseload", "add", "--staff", id, "stu-1-1", "stu-1-2", "stu-1-3"]) }
        }
        return tokens
    }
}
