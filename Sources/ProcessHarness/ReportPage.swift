import Foundation

/// Reads the exact figures back out of a `costsync report` page, for the
/// end-to-end tests of both stores: every amount on the page carries its
/// integer nanos in a `data-nanos` attribute.
public enum ReportPage {
    /// `data-nanos` of every element whose tag starts with `marker`, keyed by
    /// its `keys` attributes joined with a space.
    public static func figures(_ html: some StringProtocol, marker: String, keys: [String]) -> [String: Int64] {
        var out: [String: Int64] = [:]
        for chunk in String(html).components(separatedBy: marker).dropFirst() {
            let tag = chunk.prefix { $0 != ">" }
            func attribute(_ name: String) -> String? {
                guard let r = tag.range(of: "\(name)=\"") else { return nil }
                return String(tag[r.upperBound...].prefix { $0 != "\"" })
            }
            guard let nanos = attribute("data-nanos").flatMap({ Int64($0) }) else { continue }
            out[keys.compactMap(attribute).joined(separator: " ")] = nanos
        }
        return out
    }
}
