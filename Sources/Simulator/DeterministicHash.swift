/// The simulator's only source of "randomness": splitmix64 over the seed and
/// the coordinates of a value (org, day, line, revision, purpose). Every value
/// is a pure function of those, so any day can be regenerated on its own, in
/// any order, by the server and by a test's expectations alike.
///
/// Swift's `Hasher` is deliberately not used: it is seeded per process, and a
/// simulator's data must be the same in every run.
struct SimHash: Sendable {
    private(set) var state: UInt64

    init(_ seed: UInt64) { state = SimHash.mix(seed ^ 0x9E37_79B9_7F4A_7C15) }

    /// The splitmix64 finalizer: a bijection with good avalanche, so nearby
    /// inputs (day 100, day 101) give unrelated outputs.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Folds one more coordinate in; order matters, so `(day, line)` and
    /// `(line, day)` are different streams.
    @inline(__always)
    func with(_ v: UInt64) -> SimHash {
        var copy = self
        copy.state = SimHash.mix(state ^ SimHash.mix(v &+ 0x632B_E59B_D9B4_E019))
        return copy
    }

    @inline(__always)
    func with(_ v: Int) -> SimHash { with(UInt64(bitPattern: Int64(v))) }

    func with(_ text: String) -> SimHash { with(SimHash.fnv1a(text)) }

    /// The value of this point.
    @inline(__always)
    var value: UInt64 { SimHash.mix(state) }

    /// A value in `0..<n` (n > 0). The modulo bias is below 2^-40 for the
    /// small `n` used here, far below anything a test could notice.
    @inline(__always)
    func below(_ n: Int) -> Int { Int(value % UInt64(n)) }

    /// A sequential generator starting at this point, for loops that draw many values.
    func generator() -> SimRandom { SimRandom(state: state) }

    /// A stable 64-bit hash of a name, independent of the process.
    static func fnv1a(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in text.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }
}

/// splitmix64 as a stream.
struct SimRandom: Sendable {
    var state: UInt64

    @inline(__always)
    mutating func next() -> UInt64 {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// Identifiers that look like the providers' own, derived from a hash.
enum SimIdentifiers {
    private static let base62 = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
    private static let hex = Array("0123456789abcdef".utf8)

    /// `wrkspc_01` + 22 base62 characters, the shape of Anthropic's workspace ids.
    static func workspaceID(_ h: SimHash) -> String {
        var r = h.generator()
        var out = Array("wrkspc_01".utf8)
        for _ in 0..<22 { out.append(base62[r.below(62)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// A version-4-shaped UUID, lower-case as ClickHouse prints them.
    static func uuid(_ h: SimHash) -> String {
        var r = h.generator()
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for i in 0..<32 {
            if i == 8 || i == 12 || i == 16 || i == 20 { out.append(UInt8(ascii: "-")) }
            var nibble = r.below(16)
            if i == 12 { nibble = 4 }                 // version 4
            if i == 16 { nibble = 8 | (nibble & 3) }  // RFC 4122 variant
            out.append(hex[nibble])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func alphanumeric(_ h: SimHash, count: Int) -> String {
        var r = h.generator()
        return String(decoding: (0..<count).map { _ in base62[r.below(62)] }, as: UTF8.self)
    }

    static func hexString(_ h: SimHash, count: Int) -> String {
        var r = h.generator()
        return String(decoding: (0..<count).map { _ in hex[r.below(16)] }, as: UTF8.self)
    }
}
