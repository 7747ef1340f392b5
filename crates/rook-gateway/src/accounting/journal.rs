//! The usage journal: every usage event on disk before the process can lose it.
//!
//! The request path appends each event as one line to `<data_dir>/usage.journal`
//! (opened `O_APPEND`, mode 0600): one `write(2)` of one small buffer, under a
//! mutex, before the response completes (a buffered answer is recorded before it
//! is returned; a stream when the relay sees its end, before the body ends). No `fsync`: the
//! page cache survives the death of the process (`kill -9`, OOM, panic); only an
//! OS crash or power loss can lose the last seconds the kernel had not written
//! back (see `docs/deployment.md`).
//!
//! The writer ([`super::writer`]) retires what it has written: after each
//! successful batch, when nothing is queued the journal is truncated; otherwise the
//! live file is sealed (`usage.journal.<generation>`) and a fresh one started, and
//! sealed files whose events are all written are deleted. Every queued event
//! carries the generation it was appended to, and an event is appended and
//! queued under one lock, so the queue's order is the journal's order.
//!
//! At start, [`start`] replays whatever a previous process left (every
//! `usage.journal*` file) into the database before new events are taken:
//! each event has a unique `event_key` (`<instance nonce>.<sequence>`), so an
//! event that had already been written is not written again. A damaged record
//! (a write cut short, a line a crashed OS left half-written) is skipped with a
//! warning and the rest replayed. If the database refuses the replay, the files
//! are kept for the next start.
//!
//! The journal's size is capped (`[usage] journal_max_bytes`): when full, an
//! event skips the journal (counted in `rook_usage_journal_dropped_total`) but is
//! still queued for the database.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use metrics::counter;
use rook_observability::names;
use rook_registry::{Registry, UsageEvent};

/// The live journal file in the data directory; sealed ones add `.<generation>`.
pub(crate) const JOURNAL_FILE: &str = "usage.journal";

/// Events per database write during a replay.
const REPLAY_CHUNK: usize = 1024;

/// The journal of a running gateway. See the module docs.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    max_bytes: u64,
    nonce: u64,
    seq: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    live: File,
    /// Generation of the live file.
    generation: u64,
    live_bytes: u64,
    /// Files this process sealed and has not deleted yet: (generation, bytes).
    sealed: Vec<(u64, u64)>,
    /// Events not journaled since the journal last took one (logged per episode).
    dropping: u64,
}

/// Replays what a previous process left, then opens the journal. `None` when
/// usage recording or the journal is off, for an in-memory database (nothing
/// survives a restart anyway), or when the journal cannot be opened (logged; usage
/// is then kept in memory only, as without a journal).
pub(crate) async fn start(
    config: &rook_config::Config,
    registry: &Registry,
) -> Option<Arc<Journal>> {
    let usage = &config.usage;
    if !usage.enabled || usage.journal_max_bytes == 0 || in_memory(&config.database_url) {
        return None;
    }
    let dir = config.effective_data_dir();
    replay(&dir, registry).await;
    match Journal::open(&dir, usage.journal_max_bytes) {
        Ok(j) => Some(Arc::new(j)),
        Err(e) => {
            tracing::error!(
                path = %dir.join(JOURNAL_FILE).display(),
                error = %e,
                "cannot open the usage journal: usage not yet written to the database \
                 is lost if the process dies"
            );
            None
        }
    }
}

/// Whether `url` names an in-memory SQLite database.
fn in_memory(url: &str) -> bool {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once(':') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("sqlite") {
        return false;
    }
    let rest = rest.trim_start_matches("//");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database.is_empty() || database == ":memory:" || params.split('&').any(|p| p == "mode=memory")
}

impl Journal {
    /// Opens (creating, mode 0600) the live journal file in `dir`. Its generation
    /// follows every sealed file present, so none of those is ever overwritten.
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> std::io::Result<Journal> {
        let generation = journal_files(dir)?
            .iter()
            .filter_map(|(g, _)| *g)
            .max()
            .map_or(1, |g| g + 1);
        let live = open_live(dir)?;
        let live_bytes = live.metadata()?.len();
        Ok(Journal {
            dir: dir.to_path_buf(),
            max_bytes,
            nonce: fastrand::u64(..),
            seq: AtomicU64::new(0),
            state: Mutex::new(State {
                live,
                generation,
                live_bytes,
                sealed: Vec::new(),
                dropping: 0,
            }),
        })
    }

    /// A new unique event key: `<instance nonce>.<sequence>`, hex.
    pub(crate) fn next_key(&self) -> String {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}.{seq:x}", self.nonce)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent enough state: at worst
        // counters are off, and the next retire resynchronises the files.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Under the journal's lock: offers the event to `queue` (with the live
    /// generation) and, when it takes it, appends `line` (one `write`). An event
    /// the queue refuses is not journaled; one the journal has no room for (or
    /// cannot write) is counted in `rook_usage_journal_dropped_total`.
    pub(crate) fn append_queued(&self, line: &[u8], queue: impl FnOnce(u64) -> bool) {
        let mut st = self.lock();
        if !queue(st.generation) {
            return;
        }
        let len = line.len() as u64;
        let total = st.live_bytes + st.sealed.iter().map(|(_, b)| b).sum::<u64>();
        let written = if total + len > self.max_bytes {
            Err("full".to_string())
        } else {
            st.live.write_all(line).map_err(|e| e.to_string())
        };
        match written {
            Ok(()) => {
                st.live_bytes += len;
                if st.dropping > 0 {
                    tracing::info!(
                        not_journaled = st.dropping,
                        "usage journal accepts events again"
                    );
                    st.dropping = 0;
                }
            }
            Err(reason) => {
                counter!(names::USAGE_JOURNAL_DROPPED_TOTAL).increment(1);
                if st.dropping == 0 {
                    tracing::warn!(
                        reason,
                        max_bytes = self.max_bytes,
                        "usage journal: events are not journaled (counted in \
                         rook_usage_journal_dropped_total); they still go to the database \
                         but are lost if the process dies first"
                    );
                }
                st.dropping += 1;
            }
        }
    }

    /// After the writer wrote every event it took, the last of them appended to
    /// generation `written` (`None`: none was journaled). `queue_empty` says whether
    /// anything is still queued (asked under the lock, so no event slips in).
    pub(crate) fn retire(&self, written: Option<u64>, queue_empty: impl FnOnce() -> bool) {
        let mut st = self.lock();
        if queue_empty() {
            // Everything journaled is in the database.
            for (g, _) in std::mem::take(&mut st.sealed) {
                self.remove(g);
            }
            if st.live_bytes > 0 {
                match st.live.set_len(0) {
                    Ok(()) => st.live_bytes = 0,
                    Err(e) => tracing::warn!(error = %e, "usage journal: truncate failed"),
                }
            }
            return;
        }
        // Queued events are in the live file (and maybe the newest sealed ones):
        // seal the live file so that it can be deleted once they are written.
        if st.live_bytes > 0 {
            let sealed = self.dir.join(sealed_name(st.generation));
            let rotated = std::fs::rename(self.dir.join(JOURNAL_FILE), &sealed)
                .and_then(|()| open_live(&self.dir));
            match rotated {
                Ok(file) => {
                    let entry = (st.generation, st.live_bytes);
                    st.sealed.push(entry);
                    st.live = file;
                    st.live_bytes = 0;
                    st.generation += 1;
                }
                Err(e) => tracing::warn!(error = %e, "usage journal: rotation failed"),
            }
        }
        // Queue order is journal order: every generation before the last one
        // written has been written in full.
        if let Some(w) = written {
            let (done, keep): (Vec<_>, Vec<_>) = st.sealed.iter().partition(|(g, _)| *g < w);
            st.sealed = keep;
            for (g, _) in done {
                self.remove(g);
            }
        }
    }

    fn remove(&self, generation: u64) {
        let path = self.dir.join(sealed_name(generation));
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %e, "usage journal: delete failed");
            }
        }
    }
}

fn sealed_name(generation: u64) -> String {
    format!("{JOURNAL_FILE}.{generation}")
}

fn open_live(dir: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(dir.join(JOURNAL_FILE))?;
    #[cfg(unix)]
    {
        // A file created by something else keeps no wider mode.
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

/// The journal files in `dir`: sealed ones by generation, then the live one
/// (`None`), the order their events were appended in.
fn journal_files(dir: &Path) -> std::io::Result<Vec<(Option<u64>, PathBuf)>> {
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(kind) = journal_file_kind(name) {
            files.push((kind, entry.path()));
        }
    }
    files.sort_by_key(|(g, _)| g.map_or(u64::MAX, |g| g));
    Ok(files)
}

/// `Some(None)` for the live file, `Some(Some(generation))` for a sealed one.
fn journal_file_kind(name: &str) -> Option<Option<u64>> {
    if name == JOURNAL_FILE {
        return Some(None);
    }
    let generation = name.strip_prefix(JOURNAL_FILE)?.strip_prefix('.')?;
    if generation.is_empty() || !generation.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    generation.parse().ok().map(Some)
}

/// Writes every event of the journal files in `dir` to the database, then deletes
/// them. On a database error the files stay (the live one sealed) for the next start.
async fn replay(dir: &Path, registry: &Registry) {
    let files = match journal_files(dir) {
        Ok(f) if f.is_empty() => return,
        Ok(f) => f,
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "usage journal: cannot list the data directory");
            return;
        }
    };
    let (mut events, mut damaged) = (Vec::new(), 0usize);
    for (_, path) in &files {
        match std::fs::read(path) {
            Ok(bytes) => {
                let d = decode(&bytes);
                if d.damaged > 0 {
                    tracing::warn!(
                        path = %path.display(),
                        damaged = d.damaged,
                        "usage journal: damaged records skipped (a write cut short by a crash); \
                         the rest is replayed"
                    );
                }
                damaged += d.damaged;
                events.extend(d.events);
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "usage journal: unreadable")
            }
        }
    }
    for chunk in events.chunks(REPLAY_CHUNK) {
        if let Err(e) = registry.insert_usage_events(chunk).await {
            let next = files
                .iter()
                .filter_map(|(g, _)| *g)
                .max()
                .map_or(1, |g| g + 1);
            let _ = std::fs::rename(dir.join(JOURNAL_FILE), dir.join(sealed_name(next)));
            tracing::error!(
                error = %e,
                events = events.len(),
                "usage journal: replay into the database failed; the journal is kept and \
                 replayed at the next start"
            );
            return;
        }
    }
    for (_, path) in &files {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "usage journal: delete failed");
        }
    }
    if events.is_empty() && damaged == 0 {
        // An empty journal: the previous process had written everything.
        return;
    }
    tracing::info!(
        events = events.len(),
        files = files.len(),
        damaged,
        "usage journal replayed into the database (events already recorded are skipped by \
         their event key)"
    );
}

// ---------------------------------------------------------------- format

/// One journal record: `<FNV-1a 64 of the JSON, 16 hex digits> <JSON event>\n`.
pub(crate) fn encode(event: &UsageEvent) -> Vec<u8> {
    let json = serde_json::to_vec(event).unwrap_or_default();
    let mut line = Vec::with_capacity(json.len() + 18);
    line.extend_from_slice(format!("{:016x} ", fnv1a(&json)).as_bytes());
    line.extend_from_slice(&json);
    line.push(b'\n');
    line
}

/// What a journal file holds.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Decoded {
    /// The intact events, in order.
    pub(crate) events: Vec<UsageEvent>,
    /// Records skipped: a torn last line, a bad checksum, not an event.
    pub(crate) damaged: usize,
}

/// Parses a journal file: every intact record, and the count of damaged ones.
pub(crate) fn decode(bytes: &[u8]) -> Decoded {
    let mut out = Decoded::default();
    let mut lines = bytes.split(|b| *b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        if line.is_empty() {
            continue;
        }
        if last {
            // No newline: a write cut short.
            out.damaged += 1;
            break;
        }
        match decode_line(line) {
            Some(e) => out.events.push(e),
            None => out.damaged += 1,
        }
    }
    out
}

fn decode_line(line: &[u8]) -> Option<UsageEvent> {
    let (sum, json) = (line.get(..16)?, line.get(17..)?);
    if line.get(16) != Some(&b' ') {
        return None;
    }
    let sum = u64::from_str_radix(std::str::from_utf8(sum).ok()?, 16).ok()?;
    if sum != fnv1a(json) {
        return None;
    }
    serde_json::from_slice(json).ok()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests;
