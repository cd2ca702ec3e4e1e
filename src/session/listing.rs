//! `delm sessions`: where session logs live, what each recorded run was, and a table of them.
//!
//! A listing reads only the head and the tail of each file (the run's start and its end),
//! so a gigabyte session costs as little to list as a small one. Runs written with
//! `--session FILE` anywhere are found through the run index (see `index`).
//!
//! Over 600 lines with its tests: the table format and the head-and-tail reading are pinned
//! down case by case.

use super::index;
use super::reader::{SessionError, check_is_session, scan};
use crate::event::{Envelope, Event, HUMAN, PointStatus, RunState, Totals, parse_ts};
use crate::outcome::{RunOutcome, outcome};
use crate::text::{clip, escape_controls, one_line};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use time::{OffsetDateTime, UtcOffset};

/// Environment variable that replaces the platform data directory (sessions go in its
/// `sessions/` subdirectory), for tests and for users who keep runs elsewhere.
pub const DATA_DIR_ENV: &str = "DELM_DATA_DIR";

/// Files up to this size are read whole (their counts are exact); larger ones only at
/// their head and tail.
const READ_WHOLE_UP_TO: u64 = 512 * 1024;
/// How much of the head and of the tail of a large file is read.
const WINDOW: u64 = 128 * 1024;

/// delm's data directory: `$DELM_DATA_DIR`, or the platform's (`~/.local/share/delm` on
/// Linux). `None` when the platform has no home directory to derive it from.
pub fn data_dir() -> Option<PathBuf> {
    data_dir_for(std::env::var_os(DATA_DIR_ENV))
}

fn data_dir_for(data_dir_override: Option<std::ffi::OsString>) -> Option<PathBuf> {
    match data_dir_override {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => Some(
            directories::ProjectDirs::from("", "", "delm")?
                .data_dir()
                .to_path_buf(),
        ),
    }
}

/// Where session logs go by default: `<data dir>/sessions`.
pub fn default_sessions_dir() -> Option<PathBuf> {
    sessions_dir_for(std::env::var_os(DATA_DIR_ENV))
}

fn sessions_dir_for(data_dir_override: Option<std::ffi::OsString>) -> Option<PathBuf> {
    Some(data_dir_for(data_dir_override)?.join("sessions"))
}

/// Turn what the user typed after `delm replay` / `resume` / `compare` into a path: an
/// existing file as is, a run id in `dir` (`<dir>/<id>.jsonl`), or a run id the run index
/// knows (a `--session FILE` run). A name that matches none is returned unchanged so
/// reading it reports the path the user gave.
pub fn resolve_session_arg(arg: &str, dir: &Path) -> PathBuf {
    resolve_session_arg_in(arg, dir, index::default_path().as_deref())
}

/// [`resolve_session_arg`] with an explicit run index.
pub fn resolve_session_arg_in(arg: &str, dir: &Path, index: Option<&Path>) -> PathBuf {
    let given = PathBuf::from(arg);
    if given.exists() {
        return given;
    }
    let id = arg.strip_suffix(".jsonl").unwrap_or(arg);
    if id.contains(std::path::MAIN_SEPARATOR) {
        return given;
    }
    let in_dir = dir.join(format!("{id}.jsonl"));
    if in_dir.exists() {
        return in_dir;
    }
    index
        .and_then(|index| index::lookup(index, id))
        .unwrap_or(given)
}

/// How a recorded run ended, as far as its log tells.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionStatus {
    /// The log says how the run ended (or that it did not: INTERRUPTED).
    Ended(RunOutcome),
    /// The file could not be read as a session; the reason says why.
    Unreadable(String),
}

impl SessionStatus {
    pub fn label(&self) -> &'static str {
        match self {
            SessionStatus::Ended(o) => o.label(),
            SessionStatus::Unreadable(_) => "UNREADABLE",
        }
    }
}

/// One recorded run, from the head and tail of its log.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    /// What to type to name this run in `replay`, `resume` and `compare`: the file name
    /// without `.jsonl` in the sessions directory, the run id for an indexed file elsewhere.
    pub id: String,
    pub run_id: String,
    pub path: PathBuf,
    /// RFC 3339 time of the first event (the file's modification time when unreadable).
    pub started: String,
    pub goal: String,
    pub status: SessionStatus,
    /// The final answer, when the run wrote one.
    pub answer: Option<String>,
    /// The run's totals, when the log tells them (a large interrupted log does not).
    pub totals: Option<Totals>,
    /// Tasks and verified agent points: exact for files read whole, `None` otherwise.
    pub tasks: Option<usize>,
    pub points_verified: Option<usize>,
    /// The last event's sequence number (the number of events in a clean log).
    pub events: u64,
}

impl SessionSummary {
    /// The summary of a whole folded log.
    pub fn from_state(path: &Path, state: &RunState) -> Self {
        SessionSummary {
            id: file_id(path),
            run_id: state.run_id.clone(),
            path: path.to_path_buf(),
            started: state.started_ts.clone().unwrap_or_default(),
            goal: state.goal.clone(),
            status: SessionStatus::Ended(outcome(state)),
            answer: state.answer.as_ref().map(|a| a.answer.clone()),
            totals: Some(state.totals.clone()),
            tasks: Some(state.tasks.len()),
            points_verified: Some(
                state
                    .points
                    .iter()
                    .filter(|p| p.status == PointStatus::Verified && p.point.author != HUMAN)
                    .count(),
            ),
            events: state.last_seq,
        }
    }

    fn unreadable(path: &Path, error: &SessionError) -> Self {
        let started = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .map(|t| {
                OffsetDateTime::from(t)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        SessionSummary {
            id: file_id(path),
            run_id: String::new(),
            path: path.to_path_buf(),
            started,
            goal: String::new(),
            status: SessionStatus::Unreadable(error.to_string()),
            answer: None,
            totals: None,
            tasks: None,
            points_verified: None,
            events: 0,
        }
    }

    /// Tokens in plus out, when known.
    pub fn tokens(&self) -> Option<u64> {
        self.totals.as_ref().map(|t| t.tokens_in + t.tokens_out)
    }
}

fn file_id(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The summary of one session file, read at its head and tail only when it is large.
pub fn summarize(path: &Path) -> Result<SessionSummary, SessionError> {
    let mut file = std::fs::File::open(path).map_err(|e| SessionError::reading(path, e))?;
    let size = file
        .metadata()
        .map_err(|e| SessionError::io("inspect", path, e))?
        .len();
    let read = |file: &mut std::fs::File, from: u64, len: u64| -> Result<Vec<u8>, SessionError> {
        file.seek(SeekFrom::Start(from))
            .map_err(|e| SessionError::io("read", path, e))?;
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(len)
            .read_to_end(&mut bytes)
            .map_err(|e| SessionError::io("read", path, e))?;
        Ok(bytes)
    };
    if size <= READ_WHOLE_UP_TO {
        let bytes = read(&mut file, 0, size)?;
        let (log, _) = scan(&bytes);
        check_is_session(path, &log, bytes.is_empty())?;
        return Ok(SessionSummary::from_state(
            path,
            &RunState::from_events(&log.events),
        ));
    }
    let head = read(&mut file, 0, WINDOW)?;
    let head = &head[..head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)];
    let (head_log, _) = scan(head);
    check_is_session(path, &head_log, false)?;
    let tail = read(&mut file, size - WINDOW, WINDOW)?;
    // The window starts inside a line: skip to the first whole one.
    let tail = &tail[tail
        .iter()
        .position(|&b| b == b'\n')
        .map_or(tail.len(), |i| i + 1)..];
    let (tail_log, _) = scan(tail);
    Ok(from_head_and_tail(path, &head_log.events, &tail_log.events))
}

fn from_head_and_tail(path: &Path, head: &[Envelope], tail: &[Envelope]) -> SessionSummary {
    let mut state = RunState::from_events(head);
    let finished = tail
        .iter()
        .rev()
        .find(|e| matches!(e.event, Event::RunFinished { .. }));
    let totals = match finished.map(|e| &e.event) {
        Some(Event::RunFinished { totals, .. }) => Some(totals.clone()),
        _ => None,
    };
    if let Some(env) = finished {
        state.apply(env);
    }
    let last_seq = tail.last().map_or(state.last_seq, |e| e.seq);
    SessionSummary {
        id: file_id(path),
        run_id: state.run_id.clone(),
        path: path.to_path_buf(),
        started: state.started_ts.clone().unwrap_or_default(),
        goal: state.goal.clone(),
        status: SessionStatus::Ended(outcome(&state)),
        answer: state.answer.as_ref().map(|a| a.answer.clone()),
        totals,
        tasks: None,
        points_verified: None,
        events: last_seq,
    }
}

/// Every `*.jsonl` file in `dir`, newest first. A missing directory is an empty listing
/// (no run recorded yet); a file that cannot be read shows up as `Unreadable` instead of
/// hiding the others.
pub fn list_sessions(dir: &Path) -> Result<Vec<SessionSummary>, SessionError> {
    list_runs(dir, None)
}

/// The runs in `dir` and every run the index at `index` knows elsewhere, newest first.
pub fn list_runs(dir: &Path, index: Option<&Path>) -> Result<Vec<SessionSummary>, SessionError> {
    let mut list = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|e| SessionError::io("list", dir, e))?;
                let path = entry.path();
                if path.extension().is_none_or(|ext| ext != "jsonl") || !path.is_file() {
                    continue;
                }
                list.push(
                    summarize(&path).unwrap_or_else(|e| SessionSummary::unreadable(&path, &e)),
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(SessionError::io("list", dir, e)),
    }
    if let Some(index) = index {
        let in_dir = |p: &Path| {
            let canon = |x: &Path| x.canonicalize().unwrap_or_else(|_| x.to_path_buf());
            p.parent().map(canon) == Some(canon(dir))
        };
        let entries = index::entries(index);
        for entry in &entries {
            if in_dir(&entry.path) {
                continue;
            }
            let mut summary = summarize(&entry.path)
                .unwrap_or_else(|e| SessionSummary::unreadable(&entry.path, &e));
            // Elsewhere, the run id is what names the run (when it names only this file).
            let unique = entries.iter().filter(|e| e.run_id == entry.run_id).count() == 1;
            summary.id = if unique && !entry.run_id.is_empty() {
                entry.run_id.clone()
            } else {
                entry.path.display().to_string()
            };
            list.push(summary);
        }
    }
    // Newest first; the id breaks ties so the order is stable.
    list.sort_by(|a, b| {
        let key = |s: &SessionSummary| parse_ts(&s.started).map(|t| t.unix_timestamp_nanos());
        key(b).cmp(&key(a)).then_with(|| b.id.cmp(&a.id))
    });
    Ok(list)
}

/// `delm sessions`: the default sessions directory and every indexed run.
pub fn list_all_runs(dir: &Path) -> Result<Vec<SessionSummary>, SessionError> {
    list_runs(dir, index::default_path().as_deref())
}

/// What `delm sessions` prints: the table, or where it looked and how to record a run.
pub fn format_sessions_listing(dir: &Path, list: &[SessionSummary], width: usize) -> String {
    if list.is_empty() {
        return format!(
            "No recorded runs in {}.\nStart one with: delm run \"your question\" \
             (add --headless to run without the TUI)\n",
            dir.display()
        );
    }
    format_sessions_table(list, width)
}

/// A table of runs fitted to `width` columns: id, date (local time), status, cost, goal.
/// The goal takes the room that is left and is cut with `…`.
pub fn format_sessions_table(list: &[SessionSummary], width: usize) -> String {
    format_table_at(list, width, local_offset_at)
}

const MIN_GOAL_WIDTH: usize = 12;

fn format_table_at(
    list: &[SessionSummary],
    width: usize,
    offset_at: impl Fn(OffsetDateTime) -> UtcOffset,
) -> String {
    // Ids longer than this are cut in the middle (both ends tell runs apart).
    let id_max = if width >= 120 { 40 } else { 24 };
    let rows: Vec<[String; 5]> = list
        .iter()
        .map(|s| {
            let goal = match &s.status {
                SessionStatus::Unreadable(reason) => reason.clone(),
                _ => s.goal.clone(),
            };
            [
                clip_middle(&escape_controls(&s.id), id_max),
                format_date(&s.started, &offset_at),
                s.status.label().to_string(),
                format_cost(s),
                escape_controls(&one_line(&goal)),
            ]
        })
        .collect();
    let header = ["ID", "DATE", "STATUS", "COST", "GOAL"].map(String::from);
    let mut widths = [0usize; 4];
    for row in rows.iter().chain(std::iter::once(&header)) {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let fixed: usize = widths.iter().sum::<usize>() + 2 * widths.len();
    let goal_width = width.saturating_sub(fixed).max(MIN_GOAL_WIDTH);

    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::new();
        for (i, w) in widths.iter().enumerate() {
            // Cost is a number: right-aligned so the decimals line up.
            if i == 3 {
                line.push_str(&format!("{:>w$}  ", row[i]));
            } else {
                line.push_str(&format!("{:<w$}  ", row[i]));
            }
        }
        line.push_str(&clip(&row[4], goal_width));
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `text` cut to `max` characters by taking out its middle: `20260304…09-ab12`.
pub fn clip_middle(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max || max < 5 {
        return text.to_string();
    }
    let keep = max - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let chars: Vec<char> = text.chars().collect();
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[n - tail..]);
    out
}

fn format_cost(s: &SessionSummary) -> String {
    match &s.totals {
        Some(t) => match crate::text::cached_share(t.tokens_cached_read, t.tokens_in) {
            Some(share) => format!("{} ({share})", crate::story::format_cost(t)),
            None => crate::story::format_cost(t),
        },
        None => crate::story::UNKNOWN_COST.to_string(),
    }
}

fn format_date(ts: &str, offset_at: &impl Fn(OffsetDateTime) -> UtcOffset) -> String {
    let Some(t) = parse_ts(ts) else {
        return "-".to_string();
    };
    let t = t.to_offset(offset_at(t));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// The local UTC offset at `t`, from the C library (which honours `TZ`). The `time`
/// crate's own lookup refuses to run in multi-threaded programs, and delm always is one.
fn local_offset_at(t: OffsetDateTime) -> UtcOffset {
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    ))]
    {
        let secs = t.unix_timestamp() as libc::time_t;
        // SAFETY: `localtime_r` writes only into the `tm` we own and reads `secs`; an
        // all-zero `tm` is a valid value of that plain C struct.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
        if ok && let Ok(offset) = UtcOffset::from_whole_seconds(tm.tm_gmtoff as i32) {
            return offset;
        }
    }
    let _ = t;
    UtcOffset::UTC
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, goal: &str, status: SessionStatus, cost: Option<f64>) -> SessionSummary {
        SessionSummary {
            id: id.into(),
            run_id: id.into(),
            path: PathBuf::from(format!("/s/{id}.jsonl")),
            started: "2026-03-04T21:07:09Z".into(),
            goal: goal.into(),
            status,
            answer: None,
            totals: cost.map(|c| Totals {
                calls: 1,
                cost_usd: c,
                ..Totals::default()
            }),
            tasks: None,
            points_verified: None,
            events: 0,
        }
    }

    #[test]
    fn table_fits_the_width_and_cuts_the_goal() {
        let list = vec![
            summary(
                "20260304-210709-ab12",
                "Why does the parser drop\ntrailing comments in nested blocks?",
                SessionStatus::Ended(RunOutcome::Done),
                Some(0.0213),
            ),
            summary(
                "old",
                "short",
                SessionStatus::Ended(RunOutcome::Interrupted),
                None,
            ),
        ];
        let table = format_table_at(&list, 80, |_| UtcOffset::from_hms(1, 0, 0).unwrap());
        insta::assert_snapshot!(table, @r"
        ID                    DATE              STATUS               COST  GOAL
        20260304-210709-ab12  2026-03-04 22:07  DONE               $0.021  Why does the…
        old                   2026-03-04 22:07  INTERRUPTED  cost unknown  short
        ");
        assert!(table.lines().all(|l| l.chars().count() <= 80), "{table}");
    }

    #[test]
    fn narrow_terminals_still_show_some_goal() {
        let list = vec![summary(
            "r",
            "a goal that is much longer than twelve characters",
            SessionStatus::Ended(RunOutcome::StoppedByBudget),
            Some(1.5),
        )];
        let table = format_table_at(&list, 10, |_| UtcOffset::UTC);
        let row = table.lines().nth(1).unwrap();
        assert!(row.ends_with("a goal that…"), "{row}");
        assert!(row.contains("STOPPED BY BUDGET"), "{row}");
    }

    #[test]
    fn long_ids_are_cut_in_the_middle_and_hostile_goals_escaped() {
        assert_eq!(
            clip_middle("20260304-210709-ab12", 30),
            "20260304-210709-ab12"
        );
        assert_eq!(
            clip_middle("a-very-long-custom-session-name-here", 11),
            "a-ver…-here"
        );
        let list = vec![summary(
            "an-extremely-long-session-file-name-from-somewhere",
            "clear\u{1b}[2J",
            SessionStatus::Ended(RunOutcome::Done),
            Some(0.01),
        )];
        let table = format_table_at(&list, 80, |_| UtcOffset::UTC);
        assert!(table.contains("an-extremely…m-somewhere"), "{table}");
        assert!(
            !table.contains('\u{1b}') && table.contains("clear^[[2J"),
            "{table}"
        );
    }

    #[test]
    fn empty_listing_says_where_it_looked() {
        let text = format_sessions_listing(Path::new("/data/delm/sessions"), &[], 80);
        assert!(text.contains("/data/delm/sessions") && text.contains("delm run"));
    }

    #[test]
    fn data_dir_override_replaces_the_platform_dir() {
        assert_eq!(
            sessions_dir_for(Some("/tmp/delm-data".into())),
            Some(PathBuf::from("/tmp/delm-data/sessions"))
        );
        // An empty variable is treated as unset rather than as the current directory.
        let platform = sessions_dir_for(None);
        assert_eq!(sessions_dir_for(Some("".into())), platform);
        if let Some(dir) = platform {
            assert!(dir.ends_with("sessions"), "{}", dir.display());
        }
    }

    #[test]
    fn run_ids_resolve_in_the_sessions_dir_and_through_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("20260101-000000-abcd.jsonl");
        std::fs::write(&file, "").unwrap();
        let index = dir.path().join("runs.jsonl");
        let resolve = |arg: &str| resolve_session_arg_in(arg, dir.path(), Some(&index));
        assert_eq!(resolve("20260101-000000-abcd"), file);
        assert_eq!(resolve("20260101-000000-abcd.jsonl"), file);
        assert_eq!(resolve("missing"), PathBuf::from("missing"));
        let elsewhere = dir.path().join("other/tui.jsonl");
        std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
        std::fs::write(&elsewhere, "").unwrap();
        index::record_in(&index, "20260102-000000-beef", &elsewhere).unwrap();
        assert_eq!(
            resolve("20260102-000000-beef"),
            elsewhere.canonicalize().unwrap()
        );
    }

    fn line(seq: u64, event: Event) -> String {
        let env = Envelope {
            seq,
            ts: format!("2026-01-01T00:{:02}:{:02}Z", seq / 60 % 60, seq % 60),
            event,
        };
        serde_json::to_string(&env).unwrap()
    }

    #[test]
    fn a_large_session_is_summarised_from_its_head_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.jsonl");
        let mut text = line(
            1,
            Event::RunStarted {
                run_id: "big-run".into(),
                goal: "g".into(),
                mode: crate::event::Mode::Plain,
                model: "m".into(),
                agents: 1,
                verify: crate::event::VerifyMode::Off,
                budgets: crate::event::Budgets::default(),
                coordination: crate::event::Coordination::Delm,
                endpoint: None,
            },
        ) + "\n";
        let filler = "x".repeat(900);
        let mut seq = 1;
        while (text.len() as u64) < READ_WHOLE_UP_TO * 3 {
            seq += 1;
            let msg = Event::AgentMessage {
                agent: "a1".into(),
                task: None,
                text: filler.clone(),
            };
            text.push_str(&(line(seq, msg) + "\n"));
        }
        seq += 1;
        let totals = Totals {
            calls: 9,
            tokens_in: 900,
            tokens_out: 90,
            cost_usd: 0.5,
            unpriced_calls: 0,
            elapsed_ms: 1_000,
            ..Totals::default()
        };
        text.push_str(&line(
            seq,
            Event::RunFinished {
                answer: "done".into(),
                cited: vec![],
                stopped_by: crate::event::StoppedBy::Completed,
                totals: totals.clone(),
            },
        ));
        text.push('\n');
        std::fs::write(&path, &text).unwrap();
        let s = summarize(&path).unwrap();
        assert_eq!(s.run_id, "big-run");
        assert_eq!(s.status, SessionStatus::Ended(RunOutcome::Done));
        assert_eq!(s.totals, Some(totals));
        assert_eq!(s.events, seq);
        assert_eq!(s.tasks, None, "not counted without reading the middle");
    }
}
