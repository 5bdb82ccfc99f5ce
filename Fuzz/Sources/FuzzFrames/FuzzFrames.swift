import HavenFuzzing

/// libFuzzer entry point for the `frames` target (see HavenFuzzing.FuzzTarget).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTarget.frames.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
