import StorePort

// Issue 13: a SQLite file has one writer process, so every org is always this
// instance's to sync; the claim exists for stores that instances share.
extension SQLiteCostStore {
    public func claim(_ key: OrgKey) -> Bool { true }
    public func release(_ key: OrgKey) {}
}
