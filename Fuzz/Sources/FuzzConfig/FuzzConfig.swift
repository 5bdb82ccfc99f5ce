import HavenFuzzing

/// libFuzzer entry point for the `config` target (see HavenFuzzing.FuzzTarget).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTarget.config.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
