import Foundation

/// Root writing the service's database leaves files root owns (a new
/// database, its -wal and -shm) in a folder the `DynamicUser` service then
/// cannot write: the daemon fails at its next start. costsync refuses that,
/// saying how to run the command as the service runs.
enum StoreOwnership {
    /// `COSTSYNC_ALLOW_ROOT_WRITE=1` lets root write anyway: a container
    /// running as root over a volume another uid owns, on purpose.
    static func refuseRootWrite(_ path: String, euid: uid_t = geteuid(), environment: [String: String]) throws(AppError) {
        guard euid == 0, environment["COSTSYNC_ALLOW_ROOT_WRITE"] != "1" else { return }
        let folder = (path as NSString).deletingLastPathComponent
        for candidate in [path, folder.isEmpty ? "." : folder] {
            var info = stat()
            // A path that does not exist yet is judged by its folder, next.
            guard stat(candidate, &info) == 0 else { continue }
            guard info.st_uid != 0 else { return }
            let what = candidate == path ? "the database '\(path)'" : "the folder '\(candidate)' of the database '\(path)'"
            throw .failed("""
                costsync: running as root, refusing to write \(what): it belongs to uid \(info.st_uid), \
                and the files root would create beside it (-wal, -shm) would lock that user (the service) out. \
                Run the command as the service runs (README: "Backfill as the service runs", a systemd-run recipe), \
                or as uid \(info.st_uid) (COSTSYNC_ALLOW_ROOT_WRITE=1 writes anyway)
                """)
        }
    }
}
