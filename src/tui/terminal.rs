//! Taking over the terminal and giving it back on every exit path: normal return, errors,
//! panics, termination signals (the runner restores before it returns), suspending to the
//! shell with Ctrl-Z and handing the screen to an editor.

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::execute;
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{Stdout, Write, stdout};
use std::sync::Once;

pub type Tui = Terminal<CrosstermBackend<Stdout>>;

/// Save the window title on the terminal's title stack (xterm, and most terminals that set
/// titles), so the run's own title does not outlive delm.
const PUSH_TITLE: &str = "\x1b[22;0t";
const POP_TITLE: &str = "\x1b[23;0t";

/// Restores the terminal when dropped (normal return, `?` error or unwinding).
pub struct TerminalGuard {
    pub terminal: Tui,
}

/// Switch the terminal to the TUI's modes (raw, alternate screen, mouse, paste).
fn take_over() -> anyhow::Result<()> {
    enable_raw_mode().map_err(|e| {
        anyhow::anyhow!(
            "cannot switch the terminal to raw mode ({e}); run delm in a real terminal, or use --headless"
        )
    })?;
    let mut out = stdout();
    if let Err(e) = execute!(
        out,
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste
    ) {
        restore();
        return Err(e.into());
    }
    Ok(())
}

impl TerminalGuard {
    pub fn enter() -> anyhow::Result<Self> {
        install_panic_hook();
        let _ = stdout().write_all(PUSH_TITLE.as_bytes());
        take_over()?;
        let mut terminal = match Terminal::new(CrosstermBackend::new(stdout())) {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(e.into());
            }
        };
        terminal.hide_cursor()?;
        terminal.clear()?;
        Ok(TerminalGuard { terminal })
    }

    /// Give the terminal back for a while (suspend, an editor), then take it again and
    /// redraw from scratch: whatever ran meanwhile left the screen in an unknown state.
    pub fn hand_over<T>(&mut self, meanwhile: impl FnOnce() -> T) -> anyhow::Result<T> {
        restore_modes();
        let result = meanwhile();
        self.reclaim()?;
        Ok(result)
    }

    /// Re-assert the TUI's modes after the process was stopped and continued from outside
    /// (`kill -STOP` / `-CONT`): the shell may have reset the terminal meanwhile.
    pub fn reclaim(&mut self) -> anyhow::Result<()> {
        take_over()?;
        self.terminal.hide_cursor()?;
        self.forget_screen()
    }

    /// Make the next frame redraw every cell. Not `Terminal::clear`: it asks the terminal
    /// for the cursor position, and the input reader running by now would take the answer.
    fn forget_screen(&mut self) -> anyhow::Result<()> {
        execute!(stdout(), Clear(ClearType::All))?;
        // A blank frame makes ratatui's notion of the screen blank too.
        self.terminal
            .draw(|f| f.render_widget(ratatui::widgets::Clear, f.area()))?;
        Ok(())
    }

    /// Write escape sequences (title, bell, notification) straight to the terminal.
    pub fn write_raw(&mut self, text: &str) {
        let out = self.terminal.backend_mut();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leave the TUI's modes, keeping the saved window title on the stack.
fn restore_modes() {
    let _ = disable_raw_mode();
    let _ = execute!(
        stdout(),
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Put the terminal back in cooked mode on the main screen, with its title as it was. Safe
/// to call more than once.
pub fn restore() {
    restore_modes();
    let mut out = stdout();
    let _ = out.write_all(POP_TITLE.as_bytes());
    let _ = out.flush();
}

/// Stop the process as a shell's Ctrl-Z would, after giving the terminal back; returns
/// when the shell continues it (`fg`). SIGSTOP, because delm listens to SIGTSTP itself.
pub fn stop_self() {
    #[cfg(unix)]
    // SAFETY: raising a signal on our own process has no memory-safety preconditions.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
}

/// Restore the terminal before the panic message prints, then run the previous hook, so a
/// panic leaves a usable shell and a readable message.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
