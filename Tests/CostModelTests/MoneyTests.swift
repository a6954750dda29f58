import CostModel
import Testing

@Suite("Exact money")
struct MoneyTests {
    @Test("cents become exact dollars", arguments: [
        ("123.78912", "1.2378912", 1_237_891_200),        // Anthropic's own example
        ("41280.000000", "412.8", 412_800_000_000),       // the docs' "$412.80"
        ("0.000001", "0.00000001", 10),                   // the smallest amount reported
        ("-12.5", "-0.125", -125_000_000),                // credits come back negative
        ("1523", "15.23", 15_230_000_000),                // no decimals at all
        ("946.6", "9.466", 9_466_000_000),
        ("0", "0", 0),
        ("12345678.90123456789", "123456.7890123456789", 123_456_789_012_346), // 19 significant digits: half-even at 1e-9
    ] as [(String, String, Int64)])
    func cents(text: String, dollars: String, nanos: Int64) throws {
        let money = try Money.anthropicCents(text)
        #expect(money.text == dollars)
        #expect(money.nanos == nanos)
    }

    @Test("ClickHouse numbers keep all their decimals and round nanos half-even", arguments: [
        ("1234.567890123456", "1234.567890123456", 1_234_567_890_123),   // 12 decimals, rounded below 1e-9
        ("0.000000000500", "0.0000000005", 0),            // exactly half: to even (0)
        ("0.000000001500", "0.0000000015", 2),            // exactly half: to even (2)
        ("0.0000000025", "0.0000000025", 2),
        ("-0.0000000015", "-0.0000000015", -2),
        ("123", "123", 123_000_000_000),
        ("1.5e-7", "0.00000015", 150),
        ("2E3", "2000", 2_000_000_000_000),
        ("17.000000000001", "17.000000000001", 17_000_000_000),
    ] as [(String, String, Int64)])
    func credits(text: String, exact: String, nanos: Int64) throws {
        let money = try Money.parse(text)
        #expect(money.text == exact)
        #expect(money.nanos == nanos)
    }

    @Test("out-of-range amounts are an error, not a wrap-around", arguments: [
        "9300000000",                                      // above Int64 nanos
        "-9300000000",
        "123456789012345678901234567890123456789012",      // more than 38 digits
        "1e400",
    ])
    func overflow(text: String) {
        #expect(throws: MoneyError.self) { try Money.parse(text) }
    }

    @Test("more decimals than are kept are rounded half-even, never refused", arguments: [
        ("0." + String(repeating: "0", count: 60) + "1", "0"),                    // far below 10^-38
        ("1." + String(repeating: "1", count: 37) + "5", "1." + String(repeating: "1", count: 36) + "2"),  // a tie, to even
        ("1." + String(repeating: "1", count: 37) + "51", "1." + String(repeating: "1", count: 36) + "2"),
        ("1." + String(repeating: "1", count: 37) + "49", "1." + String(repeating: "1", count: 37)),
        ("2." + String(repeating: "0", count: 36) + "25", "2." + String(repeating: "0", count: 36) + "2"),  // half to even: ...2
        ("-0.1" + String(repeating: "0", count: 40) + "9", "-0.1"),
        ("0.5e-38", "0"),   // exactly half of the last kept digit: to even (0)
        ("1.5e-38", "0." + String(repeating: "0", count: 37) + "2"),
    ])
    func rounding(text: String, expected: String) throws {
        #expect(try Money.parse(text).text == expected)
    }

    @Test("text that is not a number is refused", arguments: ["", "-", "1.", ".5x", "1e", "12,5", "NaN", "0x10", " 1"])
    func notANumber(text: String) {
        #expect(throws: MoneyError.self) { try Money.parse(text) }
    }

    @Test("sums and differences are exact")
    func arithmetic() throws {
        let total = try Money.parse("10.000000000003")
        let parts = try Money.parse("3.3") + Money.parse("6.7")
        #expect(parts.text == "10")
        let unattributed = try total - parts
        #expect(unattributed.text == "0.000000000003")
        #expect(unattributed.nanos == 0)
    }
}

@Suite("Days")
struct DayTests {
    @Test("dates parse and print as YYYY-MM-DD", arguments: ["1970-01-01", "2024-02-29", "2025-12-31", "2100-03-01"])
    func roundTrip(text: String) throws {
        #expect(try #require(Day(text)).description == text)
    }

    @Test("impossible dates and timestamps are refused", arguments: ["2025-02-29", "2025-13-01", "2025-1-01", "2025-01-01T00:00:00Z", ""])
    func invalid(text: String) { #expect(Day(text) == nil) }

    @Test("a 32-day range splits into windows of 31 and 1")
    func windows() {
        let range = DayRange(Day("2025-01-01")!, Day("2025-02-01")!)
        #expect(range.windows(ofAtMost: 31).map(\.count) == [31, 1])
    }

    @Test("RFC 3339 timestamps with offsets and fractions land on the right instant")
    func timestamps() throws {
        let t = try #require(Timestamp(rfc3339: "2025-03-01T01:30:00.123+02:00"))
        #expect(t.description == "2025-02-28T23:30:00Z")
        #expect(t.day == Day("2025-02-28"))
    }
}

@Suite("Line keys")
struct LineKeyTests {
    @Test("a line key is the FNV-1a-128 of its canonical text, stable across versions")
    func stable() {
        var b = LineKeyBuilder()
        b.add("entity_type", "service")
        b.add("service_id", nil)
        b.add("metric", "computeCHC")
        #expect(b.build == LineKeyBuilder.key(canonical: "entity_type=service;metric=computeCHC"))
        #expect(b.build.utf8.count == 32)
        // FNV-1a 128 of "a", from the algorithm's published test vectors.
        #expect(LineKeyBuilder.key(canonical: "a") == "d228cb696f1a8caf78912b704e4a8964")
    }

    @Test("separators inside values cannot make two lines share a key")
    func escaping() {
        var one = LineKeyBuilder()
        one.add("description", "a;model=b")
        var two = LineKeyBuilder()
        two.add("description", "a")
        two.add("model", "b")
        #expect(one.build != two.build)
        #expect(LineKeyBuilder().build == "-")
    }
}
