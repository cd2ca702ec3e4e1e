//! `delm sessions`: where session logs live, what each recorded run was, and a table of them.

use super::reader::{SessionError, read_session};
use crate::event::{HUMAN, PointStatus, RunState, StoppedBy, parse_ts};
use crate::text::{clip, one_line};
use std::path::{Path, PathBuf};
use time::{OffsetDateTime, UtcOffset};

/// Environment variable that replaces the platform data directory (sessions go in its
/// `sessions/` subdirectory), for tests and for users who keep runs elsewhere.
pub const DATA_DIR_ENV: &str = "DELM_DATA_DIR";

/// Where session logs go by default: `<data dir>/sessions`, the data dir being the
/// platform's (`~/.local/share/delm` on Linux) or `$DELM_DATA_DIR`. `None` when the
/// platform has no home directory to derive it from.
pub fn default_sessions_dir() -> Option<PathBuf> {
    sessions_dir_for(std::env::var_os(DATA_DIR_ENV))
}

fn sessions_dir_for(data_dir_override: Option<std::ffi::OsString>) -> Option<PathBuf> {
    let data_dir = match data_dir_override {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => directories::ProjectDirs::from("", "", "delm")?
            .data_dir()
            .to_path_buf(),
    };
    Some(data_dir.join("sessions"))
}

/// Turn what the user typed after `delm replay` / `delm resume` into a path: an existing
/// file as is, otherwise a run id looked up in `dir` (`<dir>/<id>.jsonl`). A name that
/// matches neither is returned unchanged so reading it reports the path the user gave.
pub fn resolve_session_arg(arg: &str, dir: &Path) -> PathBuf {
    let given = PathBuf::from(arg);
    if given.exists() {
        return given;
    }
    let id = arg.strip_suffix(".jsonl").unwrap_or(arg);
    let in_dir = dir.join(format!("{id}.jsonl"));
    if !id.contains(std::path::MAIN_SEPARATOR) && in_dir.exists() {
        in_dir
    } else {
        given
    }
}

/// How a recorded run ended, as far as its log tells.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionStatus {
    /// The finalise turn wrote this answer.
    Finished(String),
    /// A cost, token or time budget ended the run early.
    Budget,
    Cancelled,
    Failed,
    /// The log ends without `run_finished` (crash, kill, power loss): `delm resume` it.
    Interrupted,
    /// The file could not be read as a session; the reason says why.
    Unreadable(String),
}

impl SessionStatus {
    pub fn label(&self) -> &'static str {
        match self {
            SessionStatus::Finished(_) => "finished",
            SessionStatus::Budget => "budget",
            SessionStatus::Cancelled => "cancelled",
            SessionStatus::Failed => "failed",
            SessionStatus::Interrupted => "interrupted",
            SessionStatus::Unreadable(_) => "unreadable",
        }
    }
}

/// One recorded run, folded from its log with the same reducer as the live engine.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    /// The file name without `.jsonl` (the run id for files delm named itself).
    pub id: String,
    pub path: PathBuf,
    /// RFC 3339 time of the first event (the file's modification time when unreadable).
    pub started: String,
    pub goal: String,
    pub status: SessionStatus,
    /// Sum of the priced calls; see `cost_known`.
    pub cost_usd: f64,
    /// False when the run made calls and none of them had a known price.
    pub cost_known: bool,
    /// Tokens in plus tokens out.
    pub tokens: u64,
    pub tasks: usize,
    /// Verified points by agents (human constraints are not counted).
    pub points_verified: usize,
    pub events: u64,
}

impl SessionSummary {
    pub fn from_state(path: &Path, state: &RunState) -> Self {
        let status = match &state.answer {
            None => SessionStatus::Interrupted,
            Some(answer) => match answer.stopped_by {
                StoppedBy::Completed => SessionStatus::Finished(answer.answer.clone()),
                StoppedBy::Budget => SessionStatus::Budget,
                StoppedBy::Cancelled => SessionStatus::Cancelled,
                StoppedBy::Error => SessionStatus::Failed,
            },
        };
        let totals = &state.totals;
        SessionSummary {
            id: file_id(path),
            path: path.to_path_buf(),
            started: state.started_ts.clone().unwrap_or_default(),
            goal: state.goal.clone(),
            status,
            cost_usd: totals.cost_usd,
            cost_known: totals.calls == 0 || totals.unpriced_calls < totals.calls,
            tokens: totals.tokens_in + totals.tokens_out,
            tasks: state.tasks.len(),
            points_verified: state
                .points
                .iter()
                .filter(|p| p.status == PointStatus::Verified && p.point.author != HUMAN)
                .count(),
            events: state.events_applied,
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
            path: path.to_path_buf(),
            started,
            goal: String::new(),
            status: SessionStatus::Unreadable(error.to_string()),
            cost_usd: 0.0,
            cost_known: false,
            tokens: 0,
            tasks: 0,
            points_verified: 0,
            events: 0,
        }
    }
}

fn file_id(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every `*.jsonl` file in `dir`, newest first. A missing directory is an empty listing
/// (no run recorded yet); a file that cannot be read shows up as `Unreadable` instead of
/// hiding the others.
pub fn list_sessions(dir: &Path) -> Result<Vec<SessionSummary>, SessionError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SessionError::io("list", dir, e)),
    };
    let mut list = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| SessionError::io("list", dir, e))?;
        let path = entry.path();
        if path.extension().is_none_or(|ext| ext != "jsonl") || !path.is_file() {
            continue;
        }
        let summary = match read_session(&path) {
            Ok(log) => SessionSummary::from_state(&path, &RunState::from_events(&log.events)),
            Err(e) => SessionSummary::unreadable(&path, &e),
        };
        list.push(summary);
    }
    // Newest first; the id breaks ties so the order is stable.
    list.sort_by(|a, b| {
        let key = |s: &SessionSummary| parse_ts(&s.started).map(|t| t.unix_timestamp_nanos());
        key(b).cmp(&key(a)).then_with(|| b.id.cmp(&a.id))
    });
    Ok(list)
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
    let rows: Vec<[String; 5]> = list
        .iter()
        .map(|s| {
            let goal = match &s.status {
                SessionStatus::Unreadable(reason) => reason.clone(),
                _ => s.goal.clone(),
            };
            [
                s.id.clone(),
                format_date(&s.started, &offset_at),
                s.status.label().to_string(),
                format_cost(s),
                one_line(&goal),
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

fn format_cost(s: &SessionSummary) -> String {
    if !s.cost_known {
        "-".to_string()
    } else {
        format!("${:.3}", s.cost_usd)
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
            path: PathBuf::from(format!("/s/{id}.jsonl")),
            started: "2026-03-04T21:07:09Z".into(),
            goal: goal.into(),
            status,
            cost_usd: cost.unwrap_or(0.0),
            cost_known: cost.is_some(),
            tokens: 0,
            tasks: 0,
            points_verified: 0,
            events: 0,
        }
    }

    #[test]
    fn table_fits_the_width_and_cuts_the_goal() {
        let list = vec![
            summary(
                "20260304-210709-ab12",
                "Why does the parser drop\ntrailing comments in nested blocks?",
                SessionStatus::Finished("x".into()),
                Some(0.0213),
            ),
            summary("old", "short", SessionStatus::Interrupted, None),
        ];
        let table = format_table_at(&list, 80, |_| UtcOffset::from_hms(1, 0, 0).unwrap());
        insta::assert_snapshot!(table, @r"
        ID                    DATE              STATUS         COST  GOAL
        20260304-210709-ab12  2026-03-04 22:07  finished     $0.021  Why does the parse…
        old                   2026-03-04 22:07  interrupted       -  short
        ");
        assert!(table.lines().all(|l| l.chars().count() <= 80), "{table}");
    }

    #[test]
    fn narrow_terminals_still_show_some_goal() {
        let list = vec![summary(
            "r",
            "a goal that is much longer than twelve characters",
            SessionStatus::Budget,
            Some(1.5),
        )];
        let table = format_table_at(&list, 10, |_| UtcOffset::UTC);
        let row = table.lines().nth(1).unwrap();
        assert!(row.ends_with("a goal that…"), "{row}");
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
    fn run_ids_resolve_in_the_sessions_dir() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("20260101-000000-abcd.jsonl");
        std::fs::write(&file, "").unwrap();
        assert_eq!(
            resolve_session_arg("20260101-000000-abcd", dir.path()),
            file
        );
        assert_eq!(
            resolve_session_arg("20260101-000000-abcd.jsonl", dir.path()),
            file
        );
        assert_eq!(
            resolve_session_arg("missing", dir.path()),
            PathBuf::from("missing")
        );
    }
}
