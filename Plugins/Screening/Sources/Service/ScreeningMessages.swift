import Foundation
import HavenScreeningProto
import HavenStorage

/// Conversions from the plugin's values to its protobuf messages.
extension Instrument {
    var ref: Haven_Screening_V1_InstrumentRef { .with { $0.id = id; $0.version = version } }

    func message(withItems: Bool) -> Haven_Screening_V1_Instrument {
        Haven_Screening_V1_Instrument.with { m in
            m.ref = ref
            m.title = title
            m.url = questionnaire.url
            m.builtin = builtin
            m.licence = rules.licence
            m.wordingShipped = rules.wordingShipped
            m.bands = rules.bandNames
            m.flags = rules.flagNames
            m.defaultScoring = rules.isDefault
            m.loinc = questionnaire.code ?? ""
            m.guidance = rules.guidance.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
            guard withItems else { return }
            var items: [Haven_Screening_V1_Item] = []
            for item in questionnaire.allItems where item.type != "group" {
                let position = rules.itemOrder.firstIndex(of: item.linkId).map { $0 + 1 } ?? 0
                if position == 0 && item.type != "display" { continue }
                items.append(.with { i in
                    i.linkID = item.linkId
                    i.text = rules.wordingShipped ? item.text : ""
                    i.type = item.type
                    i.required = rules.requiredItems.contains(item.linkId)
                    i.options = item.options.map { o in
                        .with {
                            $0.code = o.code
                            $0.display = o.display
                            if let s = o.score { $0.hasScore_p = true; $0.score = s }
                        }
                    }
                    i.allowsRefusal = rules.refusalItems.contains(item.linkId)
                    i.position = Int32(position)
                    i.code = item.code ?? ""
                    if !item.enableWhen.isEmpty {
                        i.enableWhenAnyOf = item.enableWhen.map(\.question)
                        i.enableWhenAnswers = Array(Set(item.enableWhen.map(\.answer))).sorted()
                        let answers = Set(item.enableWhen.map { $0.answer == "true" ? "yes" : $0.answer }).sorted().joined(separator: "/")
                        i.enableWhen = "asked when \(item.enableBehavior == "any" ? "any" : "all") of \(item.enableWhen.map(\.question).joined(separator: ", ")) is \(answers)"
                    }
                })
            }
            m.items = items
        }
    }
}

extension Score {
    func message(_ instrument: Instrument) -> Haven_Screening_V1_ScoreResult {
        Haven_Screening_V1_ScoreResult.with { r in
            r.instrument = instrument.ref
            if let total { r.total = total }
            r.band = band
            r.subscales = subscales
            r.flags = flags.map { f in .with { $0.name = f.name; $0.items = f.items } }
            r.missingItems = missing
            r.guidance = guidance
        }
    }
}

extension ScreeningStore.ResultRow {
    func message(_ ref: Haven_Screening_V1_InstrumentRef) -> Haven_Screening_V1_ScoreResult {
        Haven_Screening_V1_ScoreResult.with { r in
            r.instrument = ref
            if let total { r.total = total }
            r.band = band
            r.subscales = subscales
            r.flags = flags.map { f in .with { $0.name = f.name; $0.items = f.items } }
            r.missingItems = missing
            r.guidance = guidance
        }
    }
}
