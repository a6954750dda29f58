import CostModel
import JSONScanner
import Testing

/// Runs `body` with a scanner over `text`'s UTF-8 bytes.
private func scan<R>(_ text: String, _ body: (inout JSONScanner) throws -> R) throws -> R {
    let bytes = Array(text.utf8)
    return try bytes.withUnsafeBufferPointer { buffer in
        var scanner = JSONScanner(buffer)
        return try body(&scanner)
    }
}

/// The JSONError a body throws, or nil.
private func scanError(_ text: String, _ body: (inout JSONScanner) throws -> Void) -> JSONError? {
    do {
        try scan(text, body)
        return nil
    } catch let error as JSONError {
        return error
    } catch {
        return nil
    }
}

@Suite("JSON scanner")
struct JSONScannerTests {
    @Test("an object's keys come out in order, each value read by the caller")
    func objectKeys() throws {
        let result = try scan(#" { "a" : "x" , "b":true,"c":null, "d": [1, 2] } "#) { s in
            var seen: [String] = []
            try s.beginObject()
            while let key = try s.nextKey() {
                seen.append(key.string)
                if key == "a" {
                    #expect(try s.readString() == "x")
                } else if key == "b" {
                    #expect(try s.readBool() == true)
                } else if key == "c" {
                    #expect(try s.consumeNull())
                } else {
                    try s.skipValue()
                }
            }
            try s.expectEnd()
            return seen
        }
        #expect(result == ["a", "b", "c", "d"])
    }

    @Test("empty containers end at once")
    func emptyContainers() throws {
        try scan(#"{"o":{},"a":[]}"#) { s in
            try s.beginObject()
            #expect(try s.nextKey()?.string == "o")
            try s.beginObject()
            #expect(try s.nextKey() == nil)
            #expect(try s.nextKey()?.string == "a")
            try s.beginArray()
            #expect(try s.nextElement() == false)
            #expect(try s.nextKey() == nil)
            try s.expectEnd()
        }
    }

    @Test("numbers come out as their exact text, ready for Money", arguments: [
        ("0", "0"),
        ("-12.50", "-12.50"),
        ("123.78912", "123.78912"),
        ("1.5e-7", "1.5e-7"),
        ("4E+2", "4E+2"),
        ("0.100000000000000005551", "0.100000000000000005551"),  // a Double would round this
    ])
    func numberText(input: String, expected: String) throws {
        let text = try scan("[\(input)]") { s in
            try s.beginArray()
            _ = try s.nextElement()
            return String(decoding: try s.readNumberText(), as: UTF8.self)
        }
        #expect(text == expected)
    }

    @Test("a number's text parses to exact money without a Double")
    func numberToMoney() throws {
        let money = try scan(#"{"totalCHC": 0.100000000000000005551}"#) { s in
            try s.beginObject()
            _ = try s.nextKey()
            return try Money.parse(utf8: try s.readNumberText())
        }
        #expect(money.text == "0.100000000000000005551")
    }

    @Test("malformed numbers are refused with their offset", arguments: ["01", "1.", "-", ".5", "1e", "1.2.3", "12abc", "+1"])
    func badNumbers(input: String) {
        let error = scanError("[\(input)]") { s in
            try s.beginArray()
            _ = try s.nextElement()
            _ = try s.readNumberText()
        }
        #expect(error != nil)
        #expect(error?.offset == 1)
    }

    @Test("every escape is decoded", arguments: [
        (#""plain""#, "plain"),
        (#""a\"b\\c\/d""#, "a\"b\\c/d"),
        (#""\b\f\n\r\t""#, "\u{08}\u{0C}\n\r\t"),
        (#""caf\u00e9""#, "café"),
        (#""\u20AC""#, "€"),
        (#""\ud83d\ude00 smile""#, "😀 smile"),  // a surrogate pair is one scalar
        (#""\ud83d alone""#, "\u{FFFD} alone"),  // a lone high surrogate
        (#""\ude00""#, "\u{FFFD}"),              // a lone low surrogate
        ("\"raw ü and 😀\"", "raw ü and 😀"),     // UTF-8 passes through
    ])
    func escapes(input: String, expected: String) throws {
        #expect(try scan(input) { s in try s.readString() } == expected)
    }

    @Test("a key with an escape still matches the known key")
    func escapedKey() throws {
        let matched = try scan(#"{"amo\u0075nt":"1"}"#) { s in
            try s.beginObject()
            return try s.nextKey()! == "amount"
        }
        #expect(matched)
    }

    @Test("skipping a value returns its exact JSON text")
    func skipKeepsText() throws {
        let text = try scan(#"{"x": {"a":[1,{"b":"c\"}"}],"n":null} ,"y":1}"#) { s in
            try s.beginObject()
            _ = try s.nextKey()
            let range = try s.skipValue()
            #expect(try s.nextKey()?.string == "y")
            return s.text(of: range)
        }
        #expect(text == #"{"a":[1,{"b":"c\"}"}],"n":null}"#)
    }

    @Test("a truncated document fails with the offset where it stopped")
    func truncated() {
        let text = #"{"data":[{"amount":"12"#
        let error = scanError(text) { s in try s.skipValue() }
        #expect(error?.reason == .unterminatedString)
        #expect(error?.offset == 19)  // the opening quote of "12
        let end = scanError(#"{"data":[1,"#) { s in try s.skipValue() }
        #expect(end?.reason == .unexpectedEnd)
        #expect(end?.offset == 11)
    }

    @Test("structural errors are reported, not guessed around", arguments: [
        #"{"a" 1}"#, #"{"a":1,}"#, #"[1,]"#, #"[1 2]"#, #"{a:1}"#, #"tru"#, #""a\x""#, "\"tab\tin string\"", #"{"a":1}}"#,
    ])
    func structuralErrors(input: String) {
        let error = scanError(input) { s in
            try s.skipValue()
            try s.expectEnd()
        }
        #expect(error != nil)
    }

    @Test("nesting deeper than the limit is refused instead of exhausting the stack")
    func deepNesting() {
        let deep = String(repeating: "[", count: JSONScanner.maxDepth + 1) + String(repeating: "]", count: JSONScanner.maxDepth + 1)
        let error = scanError(deep) { s in try s.skipValue() }
        #expect(error?.reason == .tooDeep)
    }

    @Test("an error's description names the byte offset")
    func errorDescription() {
        let error = JSONError(.unexpectedEnd, offset: 42)
        #expect(error.description.contains("byte 42"))
    }

    @Test("the interner shares equal strings and keeps values exact")
    func interner() throws {
        let values = try scan(#"["wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ","wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ","short","claude-sonnet-4-20250514"]"#) { s in
            var interner = JSONStringInterner()
            var out: [String] = []
            try s.beginArray()
            while try s.nextElement() { out.append(interner.string(try s.readStringRaw())) }
            return out
        }
        #expect(values == ["wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", "short", "claude-sonnet-4-20250514"])
    }

    @Test("peekKind tells the value's kind without consuming it")
    func peek() throws {
        let kinds = try scan(#"[{}, [], "s", -1, true, false, null]"#) { s in
            var kinds: [JSONValueKind] = []
            try s.beginArray()
            while try s.nextElement() {
                kinds.append(try s.peekKind())
                try s.skipValue()
            }
            return kinds
        }
        #expect(kinds == [.object, .array, .string, .number, .bool, .bool, .null])
    }
}
