//! CPU priority of the background SQLite connection's worker thread.
//!
//! sqlx runs every SQLite connection on a thread of its own. The background connection's
//! threads are named with [`BACKGROUND_THREAD_PREFIX`]; after each connect they are found
//! among the process's threads and given the lowest scheduling priority (nice 19), so a
//! large usage write never holds up request handling on a busy core. Lowering one's own
//! priority needs no privilege. Failures are logged and ignored: the write still works,
//! only without the priority hint.

/// Name prefix of the background connection's worker threads. Linux keeps 15 bytes of a
/// thread name, so the prefix is short enough to leave room for the connection number.
pub(crate) const BACKGROUND_THREAD_PREFIX: &str = "rook-db-bg-";

/// The nice value given to background threads (the lowest priority).
pub(crate) const BACKGROUND_NICE: i32 = 19;

/// Lowers every background worker thread of this process to [`BACKGROUND_NICE`].
/// Idempotent; cheap (one small directory scan per new connection).
pub(crate) fn lower_background_threads() {
    #[cfg(target_os = "linux")]
    linux::lower_background_threads();
}

#[cfg(target_os = "linux")]
mod linux {
    use super::{BACKGROUND_NICE, BACKGROUND_THREAD_PREFIX};

    pub(super) fn lower_background_threads() {
        let tasks = match std::fs::read_dir("/proc/self/task") {
            Ok(t) => t,
            Err(e) => {
                tracing::debug!(error = %e, "cannot list threads; background writes keep normal priority");
                return;
            }
        };
        for task in tasks.flatten() {
            let Some(tid) = task
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(name) = std::fs::read_to_string(task.path().join("comm")) else {
                continue;
            };
            if !name.starts_with(BACKGROUND_THREAD_PREFIX) {
                continue;
            }
            let Some(pid) = rustix::process::Pid::from_raw(tid) else {
                continue;
            };
            // On Linux the nice value is per thread: PRIO_PROCESS with a thread id sets it
            // for that thread only.
            if let Err(e) = rustix::process::setpriority_process(Some(pid), BACKGROUND_NICE) {
                tracing::debug!(error = %e, thread = name.trim(), "cannot lower the priority of a background database thread");
            }
        }
    }
}
