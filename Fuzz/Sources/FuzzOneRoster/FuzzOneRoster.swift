import HavenFuzzing

/// libFuzzer entry point for the `oneroster` target (see HavenFuzzing.FuzzTarget).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneRoster(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTarget.oneroster.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
