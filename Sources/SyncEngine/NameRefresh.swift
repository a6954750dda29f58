import CostModel
import Logging
import StorePort

extension OrgSync {
    /// Keeps the org's account and names current: the account once (and the
    /// config's credit price at every pass), the workspaces or services at
    /// most once a UTC day. Runs after the costs, so it never delays them,
    /// and a failure here is a warning, not a failed sync: the costs are
    /// stored either way and the names are asked for again on the next pass.
    func refreshNames(logger: Logger) async {
        guard let names = source as? any NameSource else { return }
        do {
            let stored = try await store.account(key)
            if var account = stored?.account {
                if account.creditPrice != names.creditPrice {
                    account.creditPrice = names.creditPrice
                    try await store.saveAccount(key, account, at: clock.now)
                }
            } else {
                try await store.saveAccount(key, try await names.account(), at: clock.now)
            }
            if let last = stored?.namesRefreshedAt, last.day == clock.today { return }
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
