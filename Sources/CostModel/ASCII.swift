/// Byte classes for the hand-written validators (names, URLs, echoable text),
/// so each asks the same question the same way.
public enum ASCII {
    public static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }
}
