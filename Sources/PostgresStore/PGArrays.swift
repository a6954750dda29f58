import NIOCore
import PostgresNIO

// postgres-nio encodes `[String]` and `[Int64]` but not arrays with NULL
// elements, and the write path sends a whole page of lines as one array per
// column (`unnest`), many of them nullable dimensions. These two write the
// binary array format themselves (ndim, has-null flag, element oid, one
// dimension of `count` from index 1, then length-prefixed elements with -1
// for NULL), so a NULL dimension stays NULL instead of becoming ''.

/// A `text[]` parameter whose elements may be NULL.
struct NullableTextArray: PostgresNonThrowingEncodable, Sendable {
    var values: [String?]

    init(_ values: [String?]) { self.values = values }

    static var psqlType: PostgresDataType { .textArray }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        writeArrayHeader(into: &buffer, count: values.count, hasNull: values.contains(nil), element: .text)
        for value in values {
            guard let value else { buffer.writeInteger(Int32(-1)); continue }
            buffer.writeInteger(Int32(value.utf8.count))
            buffer.writeString(value)
        }
    }
}

/// A `bigint[]` parameter whose elements may be NULL.
struct NullableInt64Array: PostgresNonThrowingEncodable, Sendable {
    var values: [Int64?]

    init(_ values: [Int64?]) { self.values = values }

    static var psqlType: PostgresDataType { .int8Array }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        writeArrayHeader(into: &buffer, count: values.count, hasNull: values.contains(nil), element: .int8)
        for value in values {
            guard let value else { buffer.writeInteger(Int32(-1)); continue }
            buffer.writeInteger(Int32(8))
            buffer.writeInteger(value)
        }
    }
}

private func writeArrayHeader(into buffer: inout ByteBuffer, count: Int, hasNull: Bool, element: PostgresDataType) {
    // An empty array has no dimensions at all in PostgreSQL's binary format.
    buffer.writeInteger(Int32(count == 0 ? 0 : 1))
    buffer.writeInteger(Int32(hasNull ? 1 : 0))
    buffer.writeInteger(element.rawValue)
    if count > 0 {
        buffer.writeInteger(Int32(count))
        buffer.writeInteger(Int32(1))
    }
}
