import Foundation
import GRDB
import HavenStorage
import HavenTestSupport

/// Fills a havend database with a made-up district at benchmark scale. The
/// roster goes through the real import (it is a figure of its own); the
/// million concerns and the screening and referral history are written
/// straight into the tables in one transaction, because creating them one
/// call at a time would take longer than the whole benchmark may.
/// Every name is generated; no real person appears.
struct SyntheticSchool {
    static let categories = ["withdrawal_mood", "bullying", "attendance", "family_home", "physical_health", "self_harm_suicide",
                             "substance_use", "threat_of_violence", "weapon", "abuse_neglect", "other"]
    static let severities = ["low", "low", "low", "moderate", "moderate", "high", "imminent"]
    static let statuses = ["open", "triaged", "monitoring", "closed", "closed", "closed"]

    /// The OneRoster CSV files for `scale`, written into `directory`.
    static func writeRoster(_ scale: BenchmarkScale, into directory: TemporaryDirectory) throws -> String {
        let roster = SyntheticRoster.make(schools: scale.schools, studentsPerSchool: scale.students / scale.schools, teachersPerSchool: 4)
        for (name, text) in roster.files { _ = try directory.write("roster/\(name)", text) }
        return directory.file("roster")
    }

    /// Writes concerns, screenings and referrals over the imported roster.
    /// havend must not be running.
    static func fill(databasePath: String, scale: BenchmarkScale) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = OFF") }
        let queue = try DatabaseQueue(path: databasePath, configuration: configuration)
        defer { try? queue.close() }
        try queue.write { db in
            let students = try Row.fetchAll(db, sql: "SELECT id, school_id FROM students").map { ($0[0] as String, $0[1] as String) }
            let staff = try String.fetchAll(db, sql: "SELECT id FROM staff")
            guard !students.isEmpty, !staff.isEmpty else { throw BenchmarkError("the roster import left no students or staff") }
            let node = try String.fetchOne(db, sql: "SELECT value FROM haven_meta WHERE key = 'node_id'") ?? "bench-node"
            var random = SplitMix(seed: 0x4a7e)
            let now = StoredTime.ms(Date())
            let year: Int64 = 365 * 24 * 3600 * 1000

            let concern = try db.makeStatement(sql: """
                INSERT INTO concerns (id, incident_id, student_id, school_id, reporter_id, category, severity, narrative, observed_at, created_at, origin_node)
                VALUES (?, ?, ?, ?, ?, ?, ?, 'Synthetic benchmark concern.', ?, ?, ?)
                """)
            let current = try db.makeStatement(sql: "INSERT INTO concern_current (concern_id, category, severity, status, updated_at) VALUES (?, ?, ?, ?, ?)")
            var concernIDs: [String] = []
            concernIDs.reserveCapacity(min(scale.concerns, scale.referrals * 2))
            for i in 0..<scale.concerns {
                let (student, school) = students[Int(random.next() % UInt64(students.count))]
                let at = now - Int64(random.next() % UInt64(year))
                let id = RecordID.make(at: StoredTime.date(at))
                let category = categories[Int(random.next() % UInt64(categories.count))]
                let severity = severities[Int(random.next() % UInt64(severities.count))]
                try concern.execute(arguments: [id, id, student, school, staff[i % staff.count], category, severity, at, at, node])
                try current.execute(arguments: [id, category, severity, statuses[Int(random.next() % UInt64(statuses.count))], at])
                if concernIDs.count < scale.referrals { concernIDs.append(id) }
            }

            if try db.tableExists("screening_results") {
                let instruments = try Row.fetchAll(db, sql: "SELECT id, version FROM screening_instruments WHERE id IN ('phq-9', 'gad-7', 'asq')")
                    .map { ($0[0] as String, $0[1] as String) }
                let administration = try db.makeStatement(sql: """
                    INSERT INTO screening_administrations (id, student_id, instrument_id, instrument_version, context, started_by, started_at, origin_node)
                    VALUES (?, ?, ?, ?, 'universal', ?, ?, ?)
                    """)
                let result = try db.makeStatement(sql: """
                    INSERT INTO screening_results (administration_id, total, band, subscales, flags, missing, guidance, submitted_by, submitted_at, origin_node)
                    VALUES (?, ?, ?, '{}', ?, '[]', '', ?, ?, ?)
                    """)
                let bands = ["minimal", "mild", "moderate", "moderately_severe", "severe"]
                for i in 0..<(instruments.isEmpty ? 0 : scale.screenings) {
                    let (student, _) = students[Int(random.next() % UInt64(students.count))]
                    let (instrument, version) = instruments[i % instruments.count]
                    let at = now - Int64(random.next() % UInt64(year))
                    let id = RecordID.make(at: StoredTime.date(at))
                    let band = Int(random.next() % UInt64(bands.count))
                    try administration.execute(arguments: [id, student, instrument, version, staff[i % staff.count], at, node])
                    try result.execute(arguments: [id, Double(band * 5), bands[band], band >= 2 ? "[\"positive_screen\"]" : "[]", staff[i % staff.count], at + 600_000, node])
                }
            }

            if try db.tableExists("referrals") {
                let referral = try db.makeStatement(sql: """
                    INSERT INTO referrals (id, student_id, school_id, rule, reason, priority, event_id, event_type, source_type, source_id, created_at, acknowledge_by, origin_node)
                    SELECT ?, c.student_id, c.school_id, ?, 'synthetic', ?, ?, 'concern.created', 'concern', c.id, c.created_at, c.created_at + 3600000, ?
                    FROM concerns c WHERE c.id = ?
                    """)
                let state = try db.makeStatement(sql: """
                    INSERT INTO referrals_current (referral_id, status, owner_id, escalation_level, overdue, acknowledged_at, closed_at, disposition)
                    SELECT ?, 'closed', ?, ?, ?, created_at + ?, created_at + 86400000, ? FROM referrals WHERE id = ?
                    """)
                let recipient = try db.makeStatement(sql: "INSERT INTO referrals_recipients (referral_id, staff_id, level, added_by, added_at) VALUES (?, ?, 0, 'bench', 0)")
                let priorities = ["emergency", "urgent", "soon", "routine", "routine"]
                let rules = ["safety-team", "counseling", "attendance-team", "nurse"]
                let dispositions = ["resolved", "referred_out", "monitoring", "no_action"]
                for (i, concernID) in concernIDs.enumerated() {
                    let id = RecordID.make()
                    let owner = staff[i % staff.count]
                    try referral.execute(arguments: [id, rules[i % rules.count], priorities[Int(random.next() % UInt64(priorities.count))], RecordID.make(), node, concernID])
                    try state.execute(arguments: [id, owner, i % 7 == 0 ? 1 : 0, i % 5 == 0 ? 1 : 0, Int64(random.next() % 7_200_000),
                                                  dispositions[i % dispositions.count], id])
                    try recipient.execute(arguments: [id, owner])
                }
            }
        }
    }
}

/// A small deterministic generator, so every run builds the same district.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
