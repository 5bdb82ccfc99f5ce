#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HavenLocking

/// Globally unique, time-ordered record ids (UUIDv7, RFC 9562): records made
/// on different nodes never collide, and ids sort by creation time, which
/// keeps indexes compact and sync simple.
public enum RecordID {
    private struct State {
        var ms: UInt64 = 0
        var counter: UInt16 = 0
        /// Random words drawn from the kernel 64 at a time: one `getrandom`
        /// per id was a visible share of every write (four ids per concern).
        var pool: [UInt64] = []

        mutating func nextRandom() -> UInt64 {
            if pool.isEmpty { pool = RecordID.drawRandomWords(64) }
            return pool.removeLast()
        }
    }

    private static let state = Locked(State())
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// A new UUIDv7 in lower-case text form.
    public static func make(at date: Date = Date()) -> String {
        var ms = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        // Monotonic within this process: a counter in rand_a breaks ties.
        let (counter, tail): (UInt16, UInt64) = state.withLock { state in
            if ms <= state.ms {
                ms = state.ms
                state.counter &+= 1
                if state.counter > 0x0FFF {
                    state.ms += 1
                    ms = state.ms
                    state.counter = 0
                }
            } else {
                state.ms = ms
                state.counter = UInt16(truncatingIfNeeded: state.nextRandom()) & 0x01FF
            }
            return (state.counter, state.nextRandom())
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8((ms >> (8 * UInt64(5 - i))) & 0xFF) }
        bytes[6] = 0x70 | UInt8(counter >> 8 & 0x0F)
        bytes[7] = UInt8(counter & 0xFF)
        for i in 8..<16 { bytes[i] = UInt8((tail >> (8 * UInt64(i - 8))) & 0xFF) }
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        // Hand-rolled hex: this runs for every record an import writes.
        let digits = Self.digits
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (i, byte) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private typealias GetRandom = @convention(c) (UnsafeMutableRawPointer?, Int, UInt32) -> Int
    private static let getrandom: GetRandom? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getrandom") else { return nil }
        return unsafeBitCast(symbol, to: GetRandom.self)
        #else
        return nil
        #endif
    }()

    /// `count` words from the system's secure generator in one draw.
    private static func drawRandomWords(_ count: Int) -> [UInt64] {
        var words = [UInt64](repeating: 0, count: count)
        // The kernel's generator in one getrandom(2) call (glibc 2.25+,
        // looked up at run time: Swift's Glibc module does not declare it);
        // otherwise, or on a short read, one system call per word.
        let filled = words.withUnsafeMutableBytes { buffer -> Bool in
            guard let getrandom = RecordID.getrandom else { return false }
            return getrandom(buffer.baseAddress, buffer.count, 0) == buffer.count
        }
        if !filled {
            var generator = SystemRandomNumberGenerator()
            for i in words.indices { words[i] = generator.next() }
        }
        return words
    }

    /// Whether `text` looks like a Haven record id.
    public static func isValid(_ text: String) -> Bool {
        text.count == 36 && UUID(uuidString: text) != nil
    }
}

/// Times are stored as integer milliseconds since 1970 (UTC): compact,
/// sortable, and the same on every node.
public enum StoredTime {
    public static func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    public static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
}
