//! The dashboard's state and what each key does. Pure: no terminal, no network.

use super::data::Snapshot;
use super::rows;

/// The tabs, in their order on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tab {
    Status,
    Accounts,
    Pools,
    Routes,
    Usage,
    Live,
}

impl Tab {
    /// Every tab, in order.
    pub(crate) const ALL: [Tab; 6] = [
        Tab::Status,
        Tab::Accounts,
        Tab::Pools,
        Tab::Routes,
        Tab::Usage,
        Tab::Live,
    ];

    pub(crate) fn title(self) -> &'static str {
        match self {
            Tab::Status => "Status",
            Tab::Accounts => "Accounts",
            Tab::Pools => "Pools",
            Tab::Routes => "Routes",
            Tab::Usage => "Usage",
            Tab::Live => "Live",
        }
    }

    pub(crate) fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    fn step(self, forward: bool) -> Tab {
        let n = Tab::ALL.len();
        let i = if forward {
            (self.index() + 1) % n
        } else {
            (self.index() + n - 1) % n
        };
        Tab::ALL[i]
    }
}

/// A key press, independent of the terminal library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Char(char),
    /// A letter with Ctrl held.
    Ctrl(char),
    Up,
    Down,
    Left,
    Right,
    Tab,
    BackTab,
    Home,
    End,
    PageUp,
    PageDown,
    Enter,
    Esc,
    F5,
}

/// An operator action on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// `POST /api/accounts/{id}/reset`.
    Reset(String),
    /// `PATCH /api/accounts/{id}` with `{"enabled": …}`.
    SetEnabled(String, bool),
}

impl Command {
    /// The question asked before running it.
    pub(crate) fn question(&self) -> String {
        match self {
            Command::Reset(id) => format!(
                "Reset the health of account '{id}' (close its breaker, clear its cooldown)?"
            ),
            Command::SetEnabled(id, true) => format!("Enable account '{id}'?"),
            Command::SetEnabled(id, false) => {
                format!("Disable account '{id}'? Routing stops using it.")
            }
        }
    }
}

/// What the event loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Nothing,
    Quit,
    RefreshNow,
    Run(Command),
}

/// Why the last refresh failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// No answer: connection refused, DNS, timeout.
    Unreachable(String),
    /// 401: no token, or the wrong one.
    Unauthorized(String),
    /// Any other failed answer.
    Failed(String),
}

/// A line under the tab, after an action or a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notice {
    pub text: String,
    pub error: bool,
}

/// The whole dashboard state.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub tab: Tab,
    /// Selected row of each tab, by [`Tab::index`].
    pub selected: [usize; 6],
    /// The last successful refresh.
    pub snapshot: Option<Snapshot>,
    /// The last refresh's failure, cleared by the next success.
    pub problem: Option<Problem>,
    /// An action waiting for `y`.
    pub confirm: Option<Command>,
    pub notice: Option<Notice>,
    /// The server's URL, for the title and the error screen.
    pub server: String,
    pub refresh_seconds: u64,
}

impl State {
    pub(crate) fn new(server: &str, refresh_seconds: u64) -> State {
        State {
            tab: Tab::Status,
            selected: [0; 6],
            snapshot: None,
            problem: None,
            confirm: None,
            notice: None,
            server: server.to_string(),
            refresh_seconds,
        }
    }

    /// Whether the error screen replaces the tabs: the server cannot be reached or
    /// refuses the token, or nothing was ever read.
    pub(crate) fn blocked(&self) -> bool {
        match &self.problem {
            Some(Problem::Unreachable(_) | Problem::Unauthorized(_)) => true,
            Some(Problem::Failed(_)) => self.snapshot.is_none(),
            None => false,
        }
    }

    /// Rows of the current tab's table.
    fn row_count(&self) -> usize {
        self.snapshot
            .as_ref()
            .map_or(0, |s| rows::count(s, self.tab))
    }

    /// The selected row of the current tab, kept inside its table.
    pub(crate) fn selection(&self) -> usize {
        let n = self.row_count();
        self.selected[self.tab.index()].min(n.saturating_sub(1))
    }

    fn select(&mut self, row: usize) {
        let n = self.row_count();
        self.selected[self.tab.index()] = row.min(n.saturating_sub(1));
    }

    /// The account row selected on the Accounts tab.
    fn selected_account(&self) -> Option<rows::AccountRow> {
        let s = self.snapshot.as_ref()?;
        rows::accounts(&s.accounts, &s.health)
            .into_iter()
            .nth(self.selection())
    }

    /// Applies a key press.
    pub(crate) fn on_key(&mut self, key: Key) -> Action {
        if matches!(key, Key::Ctrl('c')) {
            return Action::Quit;
        }
        if let Some(cmd) = self.confirm.take() {
            return match key {
                Key::Char('y' | 'Y') | Key::Enter => Action::Run(cmd),
                _ => {
                    self.notice = Some(Notice {
                        text: "Cancelled.".into(),
                        error: false,
                    });
                    Action::Nothing
                }
            };
        }
        match key {
            Key::Char('q') | Key::Esc => return Action::Quit,
            Key::F5 | Key::Ctrl('r') | Key::Char(' ') => return Action::RefreshNow,
            Key::Tab | Key::Right | Key::Char('l') => self.tab = self.tab.step(true),
            Key::BackTab | Key::Left | Key::Char('h') => self.tab = self.tab.step(false),
            Key::Char(c @ '1'..='6') => {
                let i = (c as usize) - ('1' as usize);
                self.tab = Tab::ALL[i];
            }
            Key::Down | Key::Char('j') => self.select(self.selection() + 1),
            Key::Up | Key::Char('k') => self.select(self.selection().saturating_sub(1)),
            Key::PageDown => self.select(self.selection() + 10),
            Key::PageUp => self.select(self.selection().saturating_sub(10)),
            Key::Home | Key::Char('g') => self.select(0),
            Key::End | Key::Char('G') => self.select(usize::MAX),
            Key::Char('r') if self.tab == Tab::Accounts && !self.blocked() => {
                if let Some(a) = self.selected_account() {
                    self.confirm = Some(Command::Reset(a.id));
                }
            }
            Key::Char('e') if self.tab == Tab::Accounts && !self.blocked() => {
                if let Some(a) = self.selected_account() {
                    self.confirm = Some(Command::SetEnabled(a.id, !a.enabled));
                }
            }
            _ => {}
        }
        Action::Nothing
    }

    /// Takes a refresh's outcome.
    pub(crate) fn on_data(&mut self, result: Result<Snapshot, Problem>) {
        match result {
            Ok(s) => {
                self.snapshot = Some(s);
                self.problem = None;
            }
            Err(p) => self.problem = Some(p),
        }
    }

    /// Takes an action's outcome (a message for the notice line).
    pub(crate) fn on_done(&mut self, result: Result<String, String>) {
        self.notice = Some(match result {
            Ok(text) => Notice { text, error: false },
            Err(text) => Notice { text, error: true },
        });
    }

    /// The key help of the footer for the current screen.
    pub(crate) fn help(&self) -> &'static str {
        if self.confirm.is_some() {
            "y/Enter confirm · any other key cancels"
        } else if self.blocked() {
            "q quit · Space refresh now"
        } else if self.tab == Tab::Accounts {
            // At most 80 columns.
            "←/→ tab · ↑/↓ row · r reset health · e enable/disable · Space refresh · q quit"
        } else {
            "←/→ or 1-6 tab · ↑/↓ row · Space refresh · q quit"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::data::{Account, Health};

    fn loaded() -> State {
        let mut s = State::new("http://127.0.0.1:4141", 2);
        let snapshot = Snapshot {
            accounts: vec![
                Account {
                    id: "a".into(),
                    enabled: true,
                    ..Account::default()
                },
                Account {
                    id: "b".into(),
                    enabled: false,
                    ..Account::default()
                },
            ],
            health: vec![Health {
                id: "a".into(),
                status: "unhealthy".into(),
                ..Health::default()
            }],
            ..Snapshot::default()
        };
        s.on_data(Ok(snapshot));
        s
    }

    #[test]
    fn tabs_cycle_and_jump() {
        let mut s = State::new("x", 2);
        let table = [
            (Key::Tab, Tab::Accounts),
            (Key::Right, Tab::Pools),
            (Key::BackTab, Tab::Accounts),
            (Key::Left, Tab::Status),
            (Key::Left, Tab::Live),
            (Key::Char('l'), Tab::Status),
            (Key::Char('5'), Tab::Usage),
            (Key::Char('1'), Tab::Status),
            (Key::Char('6'), Tab::Live),
            (Key::Char('7'), Tab::Live),
        ];
        for (key, want) in table {
            assert_eq!(s.on_key(key), Action::Nothing, "{key:?}");
            assert_eq!(s.tab, want, "{key:?}");
        }
    }

    #[test]
    fn quit_and_refresh_keys() {
        let mut s = State::new("x", 2);
        for key in [Key::Char('q'), Key::Esc, Key::Ctrl('c')] {
            assert_eq!(s.on_key(key), Action::Quit, "{key:?}");
        }
        for key in [Key::F5, Key::Ctrl('r'), Key::Char(' ')] {
            assert_eq!(s.on_key(key), Action::RefreshNow, "{key:?}");
        }
    }

    #[test]
    fn actions_need_a_confirmation() {
        let mut s = loaded();
        // Not on the Accounts tab: nothing to act on.
        assert_eq!(s.on_key(Key::Char('r')), Action::Nothing);
        assert_eq!(s.confirm, None);
        s.on_key(Key::Char('2'));
        assert_eq!(s.on_key(Key::Char('r')), Action::Nothing);
        assert_eq!(s.confirm, Some(Command::Reset("a".into())));
        assert!(s.help().starts_with("y/Enter"));
        assert_eq!(
            s.on_key(Key::Char('y')),
            Action::Run(Command::Reset("a".into()))
        );
        assert_eq!(s.confirm, None);

        // Anything but y/Enter cancels (q too: it does not quit from the prompt).
        s.on_key(Key::Down);
        s.on_key(Key::Char('e'));
        assert_eq!(s.confirm, Some(Command::SetEnabled("b".into(), true)));
        assert_eq!(s.on_key(Key::Char('q')), Action::Nothing);
        assert_eq!(s.confirm, None);
        assert_eq!(
            s.notice.as_ref().map(|n| n.text.as_str()),
            Some("Cancelled.")
        );

        s.on_key(Key::Up);
        s.on_key(Key::Char('e'));
        assert_eq!(
            s.on_key(Key::Enter),
            Action::Run(Command::SetEnabled("a".into(), false))
        );
        // Ctrl-C quits even from the prompt.
        s.on_key(Key::Char('r'));
        assert_eq!(s.on_key(Key::Ctrl('c')), Action::Quit);
    }

    #[test]
    fn selection_stays_inside_the_table() {
        let mut s = loaded();
        s.on_key(Key::Char('2'));
        for _ in 0..5 {
            s.on_key(Key::Down);
        }
        assert_eq!(s.selection(), 1);
        s.on_key(Key::Home);
        assert_eq!(s.selection(), 0);
        s.on_key(Key::End);
        assert_eq!(s.selection(), 1);
        s.on_key(Key::Up);
        s.on_key(Key::Up);
        assert_eq!(s.selection(), 0);
    }

    #[test]
    fn failures_block_or_not() {
        let mut s = State::new("x", 2);
        s.on_data(Err(Problem::Failed("503".into())));
        assert!(s.blocked(), "nothing to show yet");
        let mut s = loaded();
        s.on_data(Err(Problem::Failed("503".into())));
        assert!(!s.blocked(), "stale data stays on screen");
        s.on_data(Err(Problem::Unauthorized("401".into())));
        assert!(s.blocked());
        // Actions are not offered behind the error screen.
        s.on_key(Key::Char('2'));
        s.on_key(Key::Char('r'));
        assert_eq!(s.confirm, None);
        s.on_data(Ok(Snapshot::default()));
        assert!(!s.blocked());
        s.on_data(Err(Problem::Unreachable("refused".into())));
        assert!(s.blocked());
    }
}
