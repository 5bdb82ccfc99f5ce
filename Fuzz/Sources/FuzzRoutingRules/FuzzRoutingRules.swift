import HavenFuzzing

/// libFuzzer entry point for the `routing-rules` target (see HavenFuzzing.FuzzTarget).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRoutingRules(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTarget.routingRules.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
