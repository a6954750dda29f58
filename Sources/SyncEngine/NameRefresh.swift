import CostModel
import Logging
import StorePort

extension OrgSync {
    /// Keeps the org's account and names current, at most once a UTC day
    /// (the account too: a new key under the same label may be another
    /// organization), and the config's credit price and ClickHouse account
    /// at every pass (they cost no request). Runs after the costs, so it
    /// never delays them; a failure here is a warning, not a failed sync:
    /// the costs are stored either way, and the names are asked for again on
    /// the next pass. The account and the names fail apart.
    func refreshNames(logger: Logger) async {
        guard let names = source as? any NameSource else { return }
        let stored: StoredAccount?
        do { stored = try await store.account(key) } catch {
            logger.warning("names not refreshed; costs are unaffected", metadata: ["error": "\(describe(error))"])
            return
        }
        let due = stored?.namesRefreshedAt.map { $0.day != clock.today } ?? true
        do {
            var account = stored?.account
            if due || account == nil || key.provider == .clickhouse {
                account = try await names.account()
            }
            if var account {
                account.creditPrice = names.creditPrice
                if account != stored?.account { try await store.saveAccount(key, account, at: clock.now) }
            }
        } catch is CancellationError {
            return
        } catch {
            logger.warning("account not refreshed; costs are unaffected and it is asked for again next pass", metadata: [
                "error": "\(describe(error))",
            ])
        }
        guard due else { return }
        do {
            let found = try await names.names()
            try await store.saveNames(key, found, at: clock.now)
            let count = switch found {
            case .workspaces(let w): w.count
            case .services(let s): s.count
            }
            logger.info("names refreshed", metadata: ["names": "\(count)"])
        } catch is CancellationError {
            return
        } catch {
            logger.warning("names not refreshed; costs are unaffected and the names are asked for again next pass", metadata: [
                "error": "\(describe(error))",
            ])
        }
    }
}
