import HavenFuzzing

/// libFuzzer entry point for the `questionnaire` target (see HavenFuzzing.FuzzTarget).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzQuestionnaire(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTarget.questionnaire.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
