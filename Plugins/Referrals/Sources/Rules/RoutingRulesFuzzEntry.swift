/// The routing-rule loader as the fuzzers and the corpus replay test call
/// it: any text must end in rules or a list of problems.
package enum RoutingRulesFuzzEntry {
    /// Loads `text` as a rules file; true when it was accepted.
    package static func parse(_ text: String) -> Bool {
        (try? RoutingRulesLoader.parse(text: text, name: "fuzz.toml")) != nil
    }
}
