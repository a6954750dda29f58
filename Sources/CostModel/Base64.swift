/// Standard base64 (RFC 4648, with padding): the Basic `Authorization` header
/// of ClickHouse (sent by the transport, checked by the simulator) and the
/// simulator's page tokens. Small enough not to pull Foundation into a target.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    public static func encode(_ text: String) -> String { encode(Array(text.utf8)) }

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = UInt32(bytes[i])
            let b1 = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
            let b2 = i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0
            let v = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(i + 1 < bytes.count ? alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(v & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Nil for anything that is not canonical padded base64 of UTF-8 text.
    public static func decode(_ text: some StringProtocol) -> String? {
        let chars = Array(text.utf8)
        guard chars.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 4 * 3)
        var i = 0
        while i < chars.count {
            let pad = (chars[i + 2] == UInt8(ascii: "=") ? 1 : 0) + (chars[i + 3] == UInt8(ascii: "=") ? 1 : 0)
            // Padding only at the very end, and never "x=y=".
            guard pad == 0 || i + 4 == chars.count, !(chars[i + 2] == UInt8(ascii: "=") && chars[i + 3] != UInt8(ascii: "=")) else { return nil }
            var v: UInt32 = 0
            for k in 0..<4 {
                let c = chars[i + k]
                let d: UInt8
                if c == UInt8(ascii: "=") {
                    d = 0
                } else {
                    d = reverse[Int(c)]
                    guard d != 0xFF else { return nil }
                }
                v = v << 6 | UInt32(d)
            }
            out.append(UInt8(v >> 16 & 0xFF))
            if pad < 2 { out.append(UInt8(v >> 8 & 0xFF)) }
            if pad < 1 { out.append(UInt8(v & 0xFF)) }
            i += 4
        }
        return String(validating: out, as: UTF8.self)
    }
}
