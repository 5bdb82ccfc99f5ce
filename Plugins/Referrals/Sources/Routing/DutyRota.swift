import Foundation
import GRDB
import HavenStorage

/// Who is on duty at a school, by day and time, with a fallback. "On duty" is
/// real data, set with `haven duty set`, not a role: a rule that targets the
/// on-duty counselor reaches the person covering right now.
enum DutyRota {
    static let duties = ["counselor", "designated_lead"]
    static let days = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    struct Entry: Sendable, Equatable {
        var id: String
        var schoolID: String
        var duty: String
        var staffID: String
        /// Weekdays 0 (Sunday) – 6; empty = every day.
        var days: [Int]
        /// Minutes after midnight, local time; nil = all day.
        var from: Int?
        var to: Int?
        var fallback: Bool

        func covers(weekday: Int, minute: Int) -> Bool {
            if !days.isEmpty, !days.contains(weekday) { return false }
            guard let from, let to else { return true }
            return from <= to ? (minute >= from && minute < to) : (minute >= from || minute < to)
        }
    }

    static let migration = Migration("0002-duty-rota") { db in
        try db.execute(sql: """
            CREATE TABLE referrals_duty (
                id TEXT PRIMARY KEY NOT NULL,
                school_id TEXT NOT NULL,
                duty TEXT NOT NULL,
                staff_id TEXT NOT NULL,
                days TEXT NOT NULL DEFAULT '',
                from_minute INTEGER,
                to_minute INTEGER,
                fallback INTEGER NOT NULL DEFAULT 0,
                created_by TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                cleared_at INTEGER,
                origin_node TEXT NOT NULL
            ) STRICT;
            CREATE INDEX referrals_duty_by_school ON referrals_duty(school_id, duty);
            """)
    }

    static func entries(_ db: Database, schoolID: String) throws -> [Entry] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT * FROM referrals_duty WHERE school_id = ? AND cleared_at IS NULL ORDER BY duty, fallback, created_at
            """), arguments: [schoolID]).map { row in
            Entry(id: row["id"], schoolID: row["school_id"], duty: row["duty"], staffID: row["staff_id"],
                  days: (row["days"] as String).split(separator: ",").compactMap { Int($0) },
                  from: row["from_minute"], to: row["to_minute"], fallback: row["fallback"])
        }
    }

    /// Who covers `duty` at `date`: the people on the rota then, else the
    /// fallback; `usedFallback` says which.
    static func onDuty(_ db: Database, schoolID: String, duty: String, at date: Date, timeZone: TimeZone) throws -> (staff: [String], usedFallback: Bool) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.weekday, .hour, .minute], from: date)
        let weekday = (parts.weekday ?? 1) - 1
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        let all = try entries(db, schoolID: schoolID).filter { $0.duty == duty }
        let active = try all.filter { entry in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT active FROM staff WHERE id = ?"), arguments: [entry.staffID]) ?? false
        }
        let primary = active.filter { !$0.fallback && $0.covers(weekday: weekday, minute: minute) }.map(\.staffID)
        if !primary.isEmpty { return (unique(primary), false) }
        return (unique(active.filter { $0.fallback && $0.covers(weekday: weekday, minute: minute) }.map(\.staffID)), true)
    }

    static func insert(_ db: Database, _ e: Entry, by: String, at: Int64, node: String) throws {
        try db.executeCached("""
            INSERT INTO referrals_duty (id, school_id, duty, staff_id, days, from_minute, to_minute, fallback, created_by, created_at, origin_node)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [e.id, e.schoolID, e.duty, e.staffID, e.days.map(String.init).joined(separator: ","), e.from, e.to, e.fallback, by, at, node])
    }

    static func clear(_ db: Database, id: String, at: Int64) throws -> Bool {
        try db.executeCached("UPDATE referrals_duty SET cleared_at = ? WHERE id = ? AND cleared_at IS NULL", [at, id])
        return db.changesCount > 0
    }

    static func parseTime(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0...23).contains(h), (0...59).contains(m) else { return nil }
        return h * 60 + m
    }

    static func formatTime(_ minute: Int?) -> String {
        guard let minute else { return "" }
        return String(format: "%02d:%02d", minute / 60, minute % 60)
    }

    private static func unique(_ ids: [String]) -> [String] {
        var seen: Set<String> = []
        return ids.filter { seen.insert($0).inserted }
    }
}
