//! The `:` command line, for the less common actions: `:agents 12`, `:export`, `:theme
//! light`, `:goto P4`, ... Each command is declared once here; the help lists them and Tab
//! completes their names.

use super::action::Action;
use super::app::{AppState, Command, Popup, Source};
use super::context_tree::Grouping;
use super::layout::Pane;
use super::log::EventKind;
use super::update::{set_agents, show_answer, update};
use crate::engine::Control;

/// One command as the help shows it.
pub struct CommandSpec {
    pub name: &'static str,
    pub usage: &'static str,
    pub description: &'static str,
}

const fn spec(name: &'static str, usage: &'static str, description: &'static str) -> CommandSpec {
    CommandSpec {
        name,
        usage,
        description,
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "agents",
        ":agents N",
        "set the number of agents (live runs)",
    ),
    spec("pause", ":pause", "pause the run"),
    spec("resume", ":resume", "resume a paused run"),
    spec("constraint", ":constraint TEXT", "inject a constraint"),
    spec("task", ":task TITLE", "add a task"),
    spec(
        "goto",
        ":goto ID",
        "show a task (T3), point (P4) or agent (a2)",
    ),
    spec(
        "events",
        ":events [KIND]",
        "the events log, optionally one kind (error, retry, ...)",
    ),
    spec("patches", ":patches", "the verified patches"),
    spec("answer", ":answer", "the final answer"),
    spec(
        "export",
        ":export [FILE]",
        "write the run as Markdown (default ./delm-<run>.md)",
    ),
    spec(
        "theme",
        ":theme NAME",
        "switch the colour theme (dark, light, high-contrast, ...)",
    ),
    spec("zoom", ":zoom", "zoom the focused pane, or back"),
    spec("group", ":group kind|task", "group the shared context"),
    spec(
        "speed",
        ":speed N",
        "replay speed: N events/s, or N× in real time",
    ),
    spec("help", ":help", "the keys"),
    spec("quit", ":quit, :q", "quit"),
];

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Agents(usize),
    Pause,
    Resume,
    Constraint(String),
    Task(String),
    Goto(String),
    Events(Option<String>),
    Patches,
    Answer,
    Export(Option<String>),
    Theme(String),
    Zoom,
    Group(String),
    Speed(f64),
    Help,
    Quit,
}

/// Parse what was typed after `:`. The error says what was wrong and what would work.
pub fn parse(line: &str) -> Result<Parsed, String> {
    let line = line.trim().trim_start_matches(':').trim();
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    let name = resolve(name)?;
    let need = |what: &str| -> Result<String, String> {
        if rest.is_empty() {
            Err(format!(":{name} needs {what}"))
        } else {
            Ok(rest.to_string())
        }
    };
    Ok(match name {
        "agents" => Parsed::Agents(rest.parse().map_err(|_| {
            format!(":agents needs a number of agents, e.g. :agents 12 (got `{rest}`)")
        })?),
        "pause" => Parsed::Pause,
        "resume" => Parsed::Resume,
        "constraint" => Parsed::Constraint(need("the constraint's text")?),
        "task" => Parsed::Task(need("a task title")?),
        "goto" => Parsed::Goto(need("an id, e.g. :goto P4")?),
        "events" => Parsed::Events((!rest.is_empty()).then(|| rest.to_string())),
        "patches" => Parsed::Patches,
        "answer" => Parsed::Answer,
        "export" => Parsed::Export((!rest.is_empty()).then(|| rest.to_string())),
        "theme" => Parsed::Theme(need("a theme name, e.g. :theme light")?),
        "zoom" => Parsed::Zoom,
        "group" => Parsed::Group(need("kind or task")?),
        "speed" => Parsed::Speed(
            rest.trim_end_matches(['x', '×'])
                .parse()
                .ok()
                .filter(|s: &f64| *s > 0.0 && s.is_finite())
                .ok_or_else(|| format!(":speed needs a positive number (got `{rest}`)"))?,
        ),
        "help" => Parsed::Help,
        _ => Parsed::Quit,
    })
}

/// The full command name for what was typed: exact, `q`, or a unique prefix.
fn resolve(typed: &str) -> Result<&'static str, String> {
    if typed.is_empty() {
        return Err("type a command, e.g. :agents 12 (Tab completes, ? lists them)".into());
    }
    if typed == "q" || typed == "q!" {
        return Ok("quit");
    }
    let matches = completions(typed);
    match matches.as_slice() {
        [only] => Ok(only),
        [] => Err(format!("unknown command :{typed}; ? lists the commands")),
        many => match many.iter().find(|m| **m == typed) {
            Some(exact) => Ok(exact),
            None => Err(format!(":{typed} could be :{}", many.join(", :"))),
        },
    }
}

/// Command names starting with `typed`.
pub fn completions(typed: &str) -> Vec<&'static str> {
    COMMANDS
        .iter()
        .map(|c| c.name)
        .filter(|n| n.starts_with(typed))
        .collect()
}

/// Complete the command name of `line` as far as it is unambiguous.
pub fn complete(line: &str) -> String {
    if line.contains(' ') {
        return line.to_string();
    }
    let found = completions(line.trim());
    match found.as_slice() {
        [only] => format!("{only} "),
        [] => line.to_string(),
        many => {
            let first = many[0];
            let common = (0..=first.len())
                .rev()
                .find(|&n| many.iter().all(|m| m.starts_with(&first[..n])))
                .unwrap_or(0);
            first[..common].to_string()
        }
    }
}

/// Carry out a `:` command line.
pub(super) fn run(state: &mut AppState, line: &str) -> Vec<Command> {
    let parsed = match parse(line) {
        Ok(p) => p,
        Err(why) => {
            state.flash_error(why);
            return Vec::new();
        }
    };
    let mut commands = Vec::new();
    let steer = |state: &mut AppState| -> bool {
        match state.steering_refusal() {
            Some(why) => {
                state.flash_error(why);
                false
            }
            None => true,
        }
    };
    match parsed {
        Parsed::Agents(n) => {
            if steer(state) {
                set_agents(state, n, &mut commands);
            }
        }
        Parsed::Pause | Parsed::Resume => {
            let want_pause = parsed == Parsed::Pause;
            if steer(state) && state.pause_requested() != want_pause {
                return update(state, Action::TogglePause);
            }
        }
        Parsed::Constraint(text) => {
            if steer(state) {
                state.flash("constraint sent: agents see it at their next turn");
                commands.push(Command::Engine(Control::InjectConstraint { text }));
            }
        }
        Parsed::Task(title) => {
            if steer(state) {
                state.flash(format!("task added: {title}"));
                commands.push(Command::Engine(Control::AddTask {
                    title,
                    detail: String::new(),
                }));
            }
        }
        Parsed::Goto(id) => goto(state, &id),
        Parsed::Events(kind) => {
            if state.focus != Pane::Events {
                state.toggle_slot_view(Pane::Events);
            }
            match kind {
                None => state.events.kind = None,
                Some(k) => match EventKind::ALL
                    .iter()
                    .find(|x| x.label().starts_with(k.as_str()))
                {
                    Some(kind) => state.events.kind = Some(*kind),
                    None => {
                        let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.label()).collect();
                        state.flash_error(format!(
                            "no event kind `{k}`; kinds: {}",
                            kinds.join(", ")
                        ));
                    }
                },
            }
        }
        Parsed::Patches => {
            if state.focus != Pane::Patches {
                state.toggle_slot_view(Pane::Patches);
            }
        }
        Parsed::Answer => show_answer(state),
        Parsed::Export(path) => {
            let name =
                path.unwrap_or_else(|| format!("delm-{}.md", safe_name(&state.run().run_id)));
            commands.push(Command::Export {
                path: name.into(),
                text: super::export::markdown(state),
            });
        }
        Parsed::Theme(name) => {
            let no_color = !state.theme.color;
            match super::theme::Theme::resolve(Some(&name), state.config_dir.as_deref(), no_color) {
                Ok(theme) => {
                    state.theme = theme;
                    state.flash(format!("theme {name}"));
                }
                Err(e) => state.flash_error(format!("{e:#}")),
            }
        }
        Parsed::Zoom => state.toggle_zoom(),
        Parsed::Group(by) => {
            let want = match by.as_str() {
                "kind" => Grouping::Kind,
                "task" => Grouping::Task,
                other => {
                    state.flash_error(format!(":group takes kind or task, not `{other}`"));
                    return commands;
                }
            };
            if state.context.grouping != want {
                state.context.toggle_grouping();
            }
        }
        Parsed::Speed(speed) => match &mut state.source {
            Source::Replay(t) => {
                t.set_speed(speed);
                let pace = t.pace_label();
                state.flash(format!("replay: {pace}"));
            }
            Source::Live { .. } => state.flash_error(":speed is for replays"),
        },
        Parsed::Help => state.popup = Some(Popup::Help { scroll: 0 }),
        Parsed::Quit => return update(state, Action::Quit),
    }
    commands
}

/// A run id as part of a file name: as it is when it is plain, else `run`.
fn safe_name(id: &str) -> String {
    let plain = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if plain { id.to_string() } else { "run".into() }
}

/// Select a task, point or agent by id and show it in the detail pane.
fn goto(state: &mut AppState, id: &str) {
    let id = id.trim();
    if state.run().task(id).is_some() {
        state.filters.remove(&Pane::Queue);
        state.queue.selected = Some(id.to_string());
        state.set_focus(Pane::Queue);
    } else if state.run().point(id).is_some() {
        state.filters.remove(&Pane::Context);
        state.context.select_point(id);
        state.set_focus(Pane::Context);
    } else if state.run().agents.contains_key(id) {
        state.filters.remove(&Pane::Agents);
        state.agents.selected = Some(id.to_string());
        state.set_focus(Pane::Agents);
    } else {
        state.flash_error(format!("no task, point or agent is called {id}"));
        return;
    }
    state.refresh();
    state.flash(format!("showing {id}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_prefixes_and_arguments() {
        assert_eq!(parse("agents 12"), Ok(Parsed::Agents(12)));
        assert_eq!(parse(":ag 3"), Ok(Parsed::Agents(3)));
        assert_eq!(parse("theme light"), Ok(Parsed::Theme("light".into())));
        assert_eq!(parse("export"), Ok(Parsed::Export(None)));
        assert_eq!(parse("q"), Ok(Parsed::Quit));
        assert_eq!(parse("speed 10x"), Ok(Parsed::Speed(10.0)));
        assert!(parse("agents many").unwrap_err().contains("number"));
        assert!(parse("fly").unwrap_err().contains("unknown command"));
        assert!(
            parse("p").unwrap_err().contains("could be"),
            "pause and patches"
        );
    }

    #[test]
    fn tab_completes_the_unambiguous_part() {
        assert_eq!(complete("ag"), "agents ");
        assert_eq!(complete("pa"), "pa");
        assert_eq!(complete("th"), "theme ");
        assert_eq!(complete("agents 3"), "agents 3");
    }
}
