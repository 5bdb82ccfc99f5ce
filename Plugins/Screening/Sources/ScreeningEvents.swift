import HavenPluginAPI

/// The `screening.completed` event, built the same way wherever a screening
/// is scored: on submit, in the demo, and when a desktop's screening reaches
/// the server by sync (routing rules read these attributes).
enum ScreeningEvents {
    static func completed(
        administrationID: String, instrument: Instrument, score: Score, context: String, concernID: String,
        student: StudentRecord?, studentID: String, submittedBy: String
    ) -> NewEvent {
        var attributes = [
            "instrument": instrument.id, "version": instrument.version, "band": score.band,
            "flags": score.flags.map(\.name).joined(separator: ","), "administration_id": administrationID, "context": context,
            "grade": student?.grade ?? "",
        ]
        if !submittedBy.isEmpty { attributes["submitted_by"] = submittedBy }
        if let total = score.total { attributes["total"] = formatScore(total) }
        if !concernID.isEmpty { attributes["concern_id"] = concernID }
        return NewEvent(type: "screening.completed", studentID: studentID, schoolID: student?.schoolID, subjectID: administrationID,
                        attributes: attributes)
    }
}
