/// How to point a real costsync at the simulator: the credentials as
/// environment variables (costsync never takes a secret inline) and the
/// config that names them. Shared by `costsync-sim` and `costsync demo`.
extension SimulatorWorld {
    /// `COSTSYNC_SIM_<ORG>_<WHAT>`, with the org name upper-cased and anything
    /// but letters and digits turned into `_`.
    public static func environmentName(org: String, _ what: String) -> String {
        let upper = org.uppercased().unicodeScalars.map { s -> Character in
            (("0"..."9").contains(s) || ("A"..."Z").contains(s)) ? Character(s) : "_"
        }
        return "COSTSYNC_SIM_" + String(upper) + "_" + what
    }

    /// Every simulated credential, by the variable name the config snippet uses.
    /// The keys are fake and only the simulator accepts them.
    public func credentialEnvironment() -> [(name: String, value: String)] {
        anthropicOrgs.map { (SimulatorWorld.environmentName(org: $0.name, "ADMIN_KEY"), $0.adminKey) }
            + clickhouseOrgs.flatMap { [
                (SimulatorWorld.environmentName(org: $0.name, "KEY_ID"), $0.keyID),
                (SimulatorWorld.environmentName(org: $0.name, "KEY_SECRET"), $0.keySecret),
            ] }
    }

    /// A costsync config for this world served at `baseURL`.
    /// The USD price per credit the demo and `costsync-sim`'s config use (made up).
    public static let demoCreditPrice = "0.2245"

    public func costsyncConfigTOML(baseURL: String, database: String = "./costsync-sim.sqlite") -> String {
        func q(_ s: String) -> String {
            "\"" + s.replacingBackslashesAndQuotes() + "\""
        }
        var out = "database = \(q(database))\n"
        for org in anthropicOrgs {
            out += "\n[[anthropic]]\nname = \(q(org.name))\n"
            out += "admin_key_env = \(q(SimulatorWorld.environmentName(org: org.name, "ADMIN_KEY")))\n"
            out += "base_url = \(q(baseURL))\n"
        }
        for org in clickhouseOrgs {
            out += "\n[[clickhouse]]\nname = \(q(org.name))\n"
            out += "organization_id = \(q(org.organizationID))\n"
            out += "key_id_env = \(q(SimulatorWorld.environmentName(org: org.name, "KEY_ID")))\n"
            out += "key_secret_env = \(q(SimulatorWorld.environmentName(org: org.name, "KEY_SECRET")))\n"
            out += "base_url = \(q(baseURL))\n"
            out += "credit_price = \(q(SimulatorWorld.demoCreditPrice))\n"
        }
        return out
    }
}

extension String {
    fileprivate func replacingBackslashesAndQuotes() -> String {
        var out = ""
        for c in self {
            if c == "\\" || c == "\"" { out.append("\\") }
            out.append(c)
        }
        return out
    }
}
