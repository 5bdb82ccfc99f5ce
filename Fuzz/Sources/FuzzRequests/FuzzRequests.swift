import HavenFuzzing

/// libFuzzer entry point for the `requests` target (see HavenFuzzing.FuzzTarget).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequests(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTarget.requests.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
