import ProcessHarness
import Config
import CostModel
import Testing

extension PostgresStoreTests {
    static let orgs = """
        [[anthropic]]
        name = "acme"
        admin_key_env = "ADMIN"
        """

    func parse(_ postgres: String, env: [String: String] = ["ADMIN": "sk-ant-admin01-x"]) throws(ConfigError) -> CostsyncConfig {
        try CostsyncConfig.parse(toml: Self.orgs + "\n" + postgres, file: "/etc/costsync/costsync.toml", environment: env,
                                 fileReader: { _ in Array("s3cret-from-file\n".utf8) })
    }

    @Test("[postgres] is read with its defaults, the password from the environment, and is absent without the table")
    func postgresConfig() throws {
        #expect(try parse("").postgres == nil)
        let c = try parse("""
            [postgres]
            host = "db.internal"
            database = "costsync"
            user = "costsync"
            password_env = "COSTSYNC_PG_PASSWORD"
            sslmode = "verify-full"
            ca_file = "/etc/costsync/db-ca.pem"
            """, env: ["ADMIN": "sk-ant-admin01-x", "COSTSYNC_PG_PASSWORD": "pg-pass-123"])
        let pg = try #require(c.postgres)
        #expect(pg.port == 5432 && pg.schema == "costsync" && pg.sslmode == .verifyFull && pg.caFile == "/etc/costsync/db-ca.pem")
        #expect(pg.password?.revealed == "pg-pass-123")
        #expect(!"\(c)".contains("pg-pass-123"), "the password never prints")
        let file = try parse("[postgres]\nhost = \"/var/run/postgresql\"\ndatabase = \"c\"\nuser = \"u\"\npassword_file = \"/run/pg\"\n")
        #expect(file.postgres?.password?.revealed == "s3cret-from-file")
    }

    @Test("[postgres] mistakes name the key and the fix, and never echo a password")
    func postgresConfigErrors() {
        func problem(_ text: String) -> String {
            do { _ = try parse(text); return "accepted" } catch { return "\(error)" }
        }
        let base = "[postgres]\nhost = \"db\"\ndatabase = \"c\"\nuser = \"u\"\n"
        let pasted = problem(base + "password = \"hunter2-secret\"\n")
        #expect(pasted.contains("postgres.password") && pasted.contains("password_env") && !pasted.contains("hunter2"), "\(pasted)")
        #expect(problem(base + "sslmode = \"prefer\"\n").contains("postgres.sslmode"))
        #expect(problem(base + "ca_file = \"/ca.pem\"\n").contains("verify-full"))
        #expect(problem(base + "schema = \"Costs; DROP\"\n").contains("postgres.schema"))
        #expect(problem(base + "port = 70000\n").contains("postgres.port"))
        #expect(problem("[postgres]\nhost = \"db\"\nuser = \"u\"\n").contains("postgres.database"))
        #expect(problem("[postgres]\nhost = \"/run/pg\"\ndatabase = \"c\"\nuser = \"u\"\nsslmode = \"require\"\n").contains("unix socket"))
    }
}
