//! The terminal side: raw mode and the alternate screen (restored on exit, on error
//! and on panic), keyboard input on its own thread, and the event loop that ties
//! input, refreshes and actions to the [`State`].

use std::io::{self, IsTerminal};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;

use super::data::Snapshot;
use super::model::{Action, Key, Problem, State};
use super::{fetch, view};
use crate::admin_client::AdminClient;
use crate::common::CliError;

/// What wakes the loop.
enum Msg {
    Key(Key),
    /// The terminal was resized (the next draw adapts).
    Resize,
    InputFailed(String),
    Data(Box<Result<Snapshot, Problem>>),
    Done(Result<String, String>),
}

/// A crossterm key press as a [`Key`]; `None` for keys the dashboard ignores.
pub(crate) fn key_of(k: &KeyEvent) -> Option<Key> {
    if k.kind != KeyEventKind::Press {
        return None;
    }
    if k.modifiers.contains(KeyModifiers::CONTROL) {
        return match k.code {
            KeyCode::Char(c) => Some(Key::Ctrl(c.to_ascii_lowercase())),
            _ => None,
        };
    }
    Some(match k.code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::F(5) => Key::F5,
        _ => return None,
    })
}

/// Reads the keyboard until `stop` is set (polling, so it notices within 100 ms).
fn spawn_input(
    tx: mpsc::UnboundedSender<Msg>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let msg = match event::poll(Duration::from_millis(100)) {
                Ok(false) => continue,
                Ok(true) => match event::read() {
                    Ok(Event::Key(k)) => match key_of(&k) {
                        Some(key) => Msg::Key(key),
                        None => continue,
                    },
                    Ok(Event::Resize(..)) => Msg::Resize,
                    Ok(_) => continue,
                    Err(e) => Msg::InputFailed(e.to_string()),
                },
                Err(e) => Msg::InputFailed(e.to_string()),
            };
            let failed = matches!(msg, Msg::InputFailed(_));
            if tx.send(msg).is_err() || failed {
                return;
            }
        }
    })
}

/// Starts a refresh in the background.
fn refresh(client: &Arc<AdminClient>, tx: &mpsc::UnboundedSender<Msg>) {
    let (client, tx) = (client.clone(), tx.clone());
    tokio::spawn(async move {
        let _ = tx.send(Msg::Data(Box::new(fetch::snapshot(&client).await)));
    });
}

/// Runs the dashboard in the terminal until `q`/Ctrl-C; the terminal is restored
/// whatever happens (ratatui's panic hook restores it on a panic).
pub(crate) async fn run(
    state: State,
    client: AdminClient,
    every: Duration,
) -> Result<(), CliError> {
    // Without this check, crossterm would put the controlling terminal (`/dev/tty`)
    // into raw mode while the screen goes to a pipe.
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        return Err(CliError::fail(
            "rook-cli tui needs a terminal: stdin and stdout must not be redirected",
        ));
    }
    let mut terminal = ratatui::try_init()
        .map_err(|e| CliError::fail(format!("cannot set up the terminal: {e}")))?;
    let result = event_loop(&mut terminal, state, Arc::new(client), every).await;
    let restored = ratatui::try_restore();
    result.map_err(|e| CliError::fail(format!("terminal error: {e}")))?;
    restored.map_err(|e| CliError::fail(format!("cannot restore the terminal: {e}")))
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    mut state: State,
    client: Arc<AdminClient>,
    every: Duration,
) -> io::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let input = spawn_input(tx.clone(), stop.clone());
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight = false;
    let outcome = loop {
        if let Err(e) = terminal.draw(|f| view::draw(f, &state)) {
            break Err(e);
        }
        let msg = tokio::select! {
            _ = ticker.tick() => None,
            msg = rx.recv() => msg,
        };
        match msg {
            None => {
                if !in_flight {
                    in_flight = true;
                    refresh(&client, &tx);
                }
            }
            Some(Msg::Key(key)) => match state.on_key(key) {
                Action::Quit => break Ok(()),
                Action::RefreshNow if !in_flight => {
                    in_flight = true;
                    refresh(&client, &tx);
                }
                Action::Run(cmd) => {
                    let (client, tx) = (client.clone(), tx.clone());
                    tokio::spawn(async move {
                        let _ = tx.send(Msg::Done(fetch::perform(&client, &cmd).await));
                    });
                }
                Action::RefreshNow | Action::Nothing => {}
            },
            Some(Msg::Resize) => terminal.autoresize()?,
            Some(Msg::InputFailed(e)) => break Err(io::Error::other(e)),
            Some(Msg::Data(result)) => {
                in_flight = false;
                state.on_data(*result);
            }
            Some(Msg::Done(result)) => {
                state.on_done(result);
                if !in_flight {
                    in_flight = true;
                    refresh(&client, &tx);
                }
            }
        }
    };
    stop.store(true, Ordering::Relaxed);
    let _ = input.join();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn keys() {
        let none = KeyModifiers::NONE;
        let table = [
            (press(KeyCode::Char('q'), none), Some(Key::Char('q'))),
            (
                press(KeyCode::Char('c'), KeyModifiers::CONTROL),
                Some(Key::Ctrl('c')),
            ),
            (
                press(
                    KeyCode::Char('C'),
                    KeyModifiers::CONTROL | KeyModifiers::SHIFT,
                ),
                Some(Key::Ctrl('c')),
            ),
            (
                press(KeyCode::BackTab, KeyModifiers::SHIFT),
                Some(Key::BackTab),
            ),
            (press(KeyCode::F(5), none), Some(Key::F5)),
            (press(KeyCode::F(1), none), None),
            (press(KeyCode::Up, KeyModifiers::CONTROL), None),
        ];
        for (event, want) in table {
            assert_eq!(key_of(&event), want, "{event:?}");
        }
        let mut release = press(KeyCode::Char('q'), none);
        release.kind = KeyEventKind::Release;
        assert_eq!(key_of(&release), None);
    }
}
