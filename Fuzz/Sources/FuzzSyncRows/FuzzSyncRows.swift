import HavenFuzzing

/// libFuzzer entry point for the `sync-rows` target (see HavenFuzzing.FuzzTarget).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSyncRows(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTarget.syncRows.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
