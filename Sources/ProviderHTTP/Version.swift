/// The version sent in `User-Agent: costsync/<version>`, so a provider's support
/// team can tell which build made a request.
public let costsyncVersion = "0.1.0"
