/// Hands out one shared `String` per distinct string value.
///
/// Why: a cost report repeats a handful of values (workspace ids, model names,
/// descriptions) across tens of thousands of lines. Without interning each
/// occurrence of a value longer than 15 bytes is its own heap allocation; with
/// it, a repeated value costs a hash of its bytes and a compare, no allocation,
/// and all lines share one copy, which keeps a 62,000-line page's memory small.
/// The ids it hands out let a decoder recognise a combination of values it
/// has seen before (and reuse the line key it built for it) by comparing
/// integers.
///
/// The table is keyed by the raw bytes as they appear in the JSON (strings with
/// escapes are decoded and not interned: they are rare). It stops taking new
/// entries at `capacity` values so that a field with unique values cannot grow
/// it without bound; later values are then built as plain `String`s.
///
/// A value type used by one decode at a time: not shared between tasks.
public struct JSONStringInterner {
    private var slots: [Slot]
    private var count = 0
    private let limit: Int

    private struct Slot {
        var hash: UInt64
        var id: Int32
        var value: String?
    }

    public init(capacity: Int = 4096) {
        limit = max(16, capacity)
        var size = 16
        // Keep the load factor at or below one half so probes stay short.
        while size < limit * 2 { size <<= 1 }
        slots = Array(repeating: Slot(hash: 0, id: -1, value: nil), count: size)
    }

    /// The decoded string, shared with earlier equal values where possible.
    public mutating func string(_ raw: JSONRawString) -> String {
        intern(raw).string
    }

    /// The string for these UTF-8 bytes, shared with earlier equal values.
    public mutating func string(utf8 bytes: UnsafeBufferPointer<UInt8>) -> String {
        intern(utf8: bytes).string
    }

    /// The decoded string and a small id that is equal for equal strings
    /// within this interner (so callers can key caches by a few integers
    /// instead of hashing text), or id -1 when the value was not interned
    /// (it had escapes, or the table is full).
    public mutating func intern(_ raw: JSONRawString) -> (string: String, id: Int32) {
        if raw.hasEscapes { return (raw.string, -1) }
        return intern(utf8: raw.bytes)
    }

    public mutating func intern(utf8 bytes: UnsafeBufferPointer<UInt8>) -> (string: String, id: Int32) {
        let h = JSONStringInterner.hash(bytes)
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            if let value = slots[i].value {
                if slots[i].hash == h, JSONStringInterner.equal(value, bytes) { return (value, slots[i].id) }
                i = (i + 1) & mask
                continue
            }
            let value = String(decoding: bytes, as: UTF8.self)
            guard count < limit else { return (value, -1) }
            let id = Int32(count)
            slots[i] = Slot(hash: h, id: id, value: value)
            count += 1
            return (value, id)
        }
    }

    /// A fast non-cryptographic hash, eight bytes at a time (the table is
    /// private to one decode, so hash flooding is not a concern).
    @inline(__always)
    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        guard let base = bytes.baseAddress else { return h }
        let raw = UnsafeRawPointer(base)
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ w) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 32
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            tail |= UInt64(bytes[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 29
        return h
    }

    @inline(__always)
    private static func equal(_ s: String, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var s = s
        // Interned values were built from bytes, so they are native UTF-8 and
        // `withUTF8` does not copy.
        return s.withUTF8 { u in
            u.count == bytes.count && (u.count == 0 || memcmpBytes(u, bytes))
        }
    }

    @inline(__always)
    private static func memcmpBytes(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = a.count
        while i < n {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }
}
