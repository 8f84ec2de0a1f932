//! Every key binding, in one table: the dispatchers ([`App::handle_key`](super::app::App)
//! and the views' own handlers) look keys up here, the footer shows the bindings that have a
//! word for the view that is up, and the help overlay lists them all.
//!
//! Text entry (the prompt's editing keys, the add-key form, the conversation filter, the
//! remove confirmation) is not a binding: those keys are typed.

use super::app::View;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
// Short names for the table below.
use Act as A;
use KeyCode as K;
use Section as S;

/// Where a binding works; the help overlay lists bindings under their section's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// The chat view.
    Chat,
    /// Switching views (works in every view).
    Views,
    /// The keys view (F3).
    Keys,
    /// The saved-conversations view (F4).
    Conversations,
    /// The pool dashboard (F2): scrolling only, not listed.
    Pools,
    /// The help overlay itself: scrolling only, not listed.
    Help,
    /// Everywhere, before anything else.
    Any,
}

impl Section {
    /// The heading the help overlay shows.
    pub fn name(self) -> &'static str {
        match self {
            Section::Chat => "chat",
            Section::Views => "views",
            Section::Keys => "keys",
            Section::Conversations => "conversations",
            Section::Pools => "pools",
            Section::Help => "help",
            Section::Any => "any",
        }
    }
}

/// What a binding does; the handler of its section carries it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// Leave the TUI.
    Quit,
    /// Stop the answer, or quit when none streams.
    Interrupt,
    /// Open the help overlay.
    Help,
    /// Toggle the pool dashboard.
    Pools,
    /// Toggle the keys view.
    Keys,
    /// Toggle the saved-conversations view.
    Conversations,
    /// Back to the chat.
    Back,
    /// Send the prompt.
    Send,
    /// A new line in the prompt.
    NewLine,
    /// The previous prompt of the history (on an empty or recalled prompt).
    RecallOlder,
    /// The next prompt of the history.
    RecallNewer,
    /// The next task.
    NextTask,
    /// The previous task.
    PrevTask,
    /// The task of the digit pressed (1 auto … 5 vision).
    PickTask,
    /// Stop the answer (keeping what came).
    Stop,
    /// One line or row up.
    Up,
    /// One line or row down.
    Down,
    /// One page up.
    PageUp,
    /// One page down.
    PageDown,
    /// To the top.
    Top,
    /// To the bottom.
    Bottom,
    /// Edit the prompt in `$EDITOR`.
    EditPrompt,
    /// Copy the last answer.
    CopyAnswer,
    /// Copy the code block in view.
    CopyCode,
    /// Show or hide a reasoning model's thinking.
    ToggleReasoning,
    /// Continue an answer cut at `max_tokens`.
    ContinueCut,
    /// Start a `/transcribe` command in the prompt.
    Transcribe,
    /// Nothing by itself: a command typed in the prompt, listed for the help.
    Command,
    /// Add a key.
    AddKey,
    /// Remove the selected key.
    RemoveKey,
    /// Check every key.
    CheckKeys,
    /// Resume the selected conversation.
    Resume,
    /// Export the selected conversation.
    Export,
    /// Start a new conversation.
    NewConversation,
    /// Filter the conversations by title.
    Filter,
    /// Take every model and key back into rotation (`rota reset`).
    Reset,
}

/// Which modifiers a chord asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mods {
    /// Whatever is held.
    Any,
    /// Nothing held.
    Bare,
    /// Neither Ctrl nor Alt (Shift may be held).
    Plain,
    /// Ctrl held (others may be too).
    Ctrl,
    /// Alt held (others may be too).
    Alt,
    /// Shift held (others may be too).
    Shift,
}

/// A key and the modifiers it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chord {
    /// The key.
    pub code: KeyCode,
    /// The modifiers.
    pub mods: Mods,
    /// Only while no text is being typed (an empty prompt, no open field).
    pub idle: bool,
}

impl Chord {
    /// Whether `key` is this chord; `typing`: a text field holds text.
    pub fn matches(&self, key: &KeyEvent, typing: bool) -> bool {
        let m = key.modifiers;
        let (ctrl, alt) = (
            m.contains(KeyModifiers::CONTROL),
            m.contains(KeyModifiers::ALT),
        );
        key.code == self.code
            && !(self.idle && typing)
            && match self.mods {
                Mods::Any => true,
                Mods::Bare => m.is_empty(),
                Mods::Plain => !ctrl && !alt,
                Mods::Ctrl => ctrl,
                Mods::Alt => alt,
                Mods::Shift => m.contains(KeyModifiers::SHIFT),
            }
    }

    /// A chord that names its modifiers wins over one that takes any.
    fn specific(&self) -> bool {
        self.mods != Mods::Any
    }
}

/// Where a binding shows in a view's footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    /// The view.
    pub view: View,
    /// Lower comes first; a narrow footer leaves out the tail.
    pub rank: u8,
    /// The key as the footer shows it.
    pub key: &'static str,
    /// One word for what it does.
    pub word: &'static str,
}

/// One binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    /// Where it works.
    pub section: Section,
    /// What it does.
    pub act: Act,
    /// The keys that do it.
    pub chords: &'static [Chord],
    /// The keys as the help overlay shows them.
    pub keys: &'static str,
    /// What the help overlay says it does; `None`: not a row of its own (the row before
    /// names it, or it is a mere alias).
    pub help: Option<&'static str>,
    /// Where the footers show it.
    pub footer: &'static [Footer],
}

const fn key(code: KeyCode, mods: Mods) -> Chord {
    Chord {
        code,
        mods,
        idle: false,
    }
}

const fn any(code: KeyCode) -> Chord {
    key(code, Mods::Any)
}

const fn ctrl(c: char) -> Chord {
    key(KeyCode::Char(c), Mods::Ctrl)
}

const fn alt(c: char) -> Chord {
    key(KeyCode::Char(c), Mods::Alt)
}

const fn foot(view: View, rank: u8, key: &'static str, word: &'static str) -> Footer {
    Footer {
        view,
        rank,
        key,
        word,
    }
}

const fn row(
    section: Section,
    act: Act,
    chords: &'static [Chord],
    keys: &'static str,
    help: &'static str,
) -> Binding {
    Binding {
        section,
        act,
        chords,
        keys,
        help: Some(help),
        footer: &[],
    }
}

/// A binding the help overlay does not list as a row of its own.
const fn unlisted(section: Section, act: Act, chords: &'static [Chord]) -> Binding {
    Binding {
        section,
        act,
        chords,
        keys: "",
        help: None,
        footer: &[],
    }
}

const fn shown(b: Binding, footer: &'static [Footer]) -> Binding {
    Binding { footer, ..b }
}

/// Every binding, in the help overlay's order.
pub const BINDINGS: &[Binding] = &[
    shown(
        row(
            S::Chat,
            A::Send,
            &[any(K::Enter)],
            "Enter",
            "send the prompt",
        ),
        &[foot(View::Chat, 0, "Enter", "send")],
    ),
    row(
        S::Chat,
        A::NewLine,
        &[
            key(K::Enter, Mods::Alt),
            key(K::Enter, Mods::Shift),
            ctrl('j'),
        ],
        "Alt+Enter, Ctrl+J",
        "new line in the prompt",
    ),
    row(
        S::Chat,
        A::RecallOlder,
        &[key(K::Up, Mods::Bare)],
        "Up / Down",
        "recall earlier prompts (on an empty prompt)",
    ),
    unlisted(S::Chat, A::RecallNewer, &[key(K::Down, Mods::Bare)]),
    shown(
        row(
            S::Chat,
            A::NextTask,
            &[key(K::Tab, Mods::Plain)],
            "Tab, Shift+Tab",
            "next / previous task",
        ),
        &[foot(View::Chat, 3, "Tab", "task")],
    ),
    unlisted(S::Chat, A::PrevTask, &[any(K::BackTab)]),
    row(
        S::Chat,
        A::PickTask,
        &[alt('1'), alt('2'), alt('3'), alt('4'), alt('5')],
        "Alt+1..5",
        "task auto, fast, research, code, vision",
    ),
    shown(
        row(
            S::Chat,
            A::Stop,
            &[any(K::Esc)],
            "Esc",
            "stop the answer (keeps what came)",
        ),
        &[foot(View::Chat, 1, "Esc", "stop")],
    ),
    row(
        S::Chat,
        A::PageUp,
        &[any(K::PageUp)],
        "PgUp / PgDn",
        "scroll the chat (PgDn to the end follows)",
    ),
    unlisted(S::Chat, A::PageDown, &[any(K::PageDown)]),
    unlisted(S::Chat, A::Up, &[key(K::Up, Mods::Alt)]),
    unlisted(S::Chat, A::Down, &[key(K::Down, Mods::Alt)]),
    row(
        S::Chat,
        A::EditPrompt,
        &[ctrl('e')],
        "Ctrl+E",
        "edit the prompt in $EDITOR",
    ),
    shown(
        row(
            S::Chat,
            A::CopyAnswer,
            &[ctrl('y')],
            "Ctrl+Y",
            "copy the last answer (OSC 52)",
        ),
        &[foot(View::Chat, 7, "Ctrl+Y", "copy")],
    ),
    row(
        S::Chat,
        A::CopyCode,
        &[alt('y')],
        "Alt+Y",
        "copy the code block in view (OSC 52)",
    ),
    row(
        S::Chat,
        A::ToggleReasoning,
        &[alt('r')],
        "Alt+R",
        "show or hide thinking and research tool calls",
    ),
    row(
        S::Chat,
        A::ContinueCut,
        &[alt('c')],
        "Alt+C",
        "continue an answer cut at max_tokens",
    ),
    row(
        S::Chat,
        A::Command,
        &[],
        "/transcribe PATH",
        "transcribe audio into the prompt",
    ),
    row(
        S::Chat,
        A::Transcribe,
        &[ctrl('t')],
        "Ctrl+T",
        "start a /transcribe command",
    ),
    shown(
        row(
            S::Views,
            A::Pools,
            &[any(K::F(2)), ctrl('d')],
            "F2, Ctrl+D",
            "pool dashboard",
        ),
        &[
            foot(View::Chat, 4, "F2", "pools"),
            foot(View::Keys, 1, "F2", "pools"),
        ],
    ),
    shown(
        row(
            S::Views,
            A::Keys,
            &[any(K::F(3)), ctrl('k')],
            "F3, Ctrl+K",
            "keys",
        ),
        &[
            foot(View::Chat, 5, "F3", "keys"),
            foot(View::Dashboard, 1, "F3", "keys"),
        ],
    ),
    shown(
        row(
            S::Views,
            A::Conversations,
            &[any(K::F(4)), ctrl('o')],
            "F4, Ctrl+O",
            "saved conversations: resume, export, new",
        ),
        &[foot(View::Chat, 6, "F4", "chats")],
    ),
    shown(
        row(
            S::Views,
            A::Help,
            &[
                any(K::F(1)),
                Chord {
                    code: K::Char('?'),
                    mods: Mods::Plain,
                    idle: true,
                },
            ],
            "F1, ?",
            "this help (? on an empty prompt)",
        ),
        &[
            foot(View::Chat, 2, "F1", "help"),
            foot(View::Dashboard, 2, "F1", "help"),
            foot(View::Keys, 2, "F1", "help"),
            foot(View::Sessions, 5, "F1", "help"),
        ],
    ),
    shown(
        row(
            S::Views,
            A::Back,
            &[any(K::Esc), any(K::Char('q'))],
            "Esc",
            "back to the chat",
        ),
        &[
            foot(View::Dashboard, 0, "Esc", "chat"),
            foot(View::Keys, 0, "Esc", "chat"),
            foot(View::Sessions, 4, "Esc", "chat"),
        ],
    ),
    row(
        S::Keys,
        A::AddKey,
        &[any(K::Char('a'))],
        "a",
        "add a key (typed masked)",
    ),
    row(
        S::Keys,
        A::RemoveKey,
        &[any(K::Char('d')), any(K::Delete)],
        "d, Delete",
        "remove the selected key",
    ),
    row(
        S::Keys,
        A::CheckKeys,
        &[any(K::Char('c'))],
        "c",
        "check every key",
    ),
    row(
        S::Keys,
        A::Up,
        &[any(K::Up), any(K::Char('k'))],
        "Up / Down",
        "select a key",
    ),
    unlisted(S::Keys, A::Down, &[any(K::Down), any(K::Char('j'))]),
    shown(
        row(
            S::Conversations,
            A::Resume,
            &[any(K::Enter)],
            "Enter",
            "resume the selected one in the chat",
        ),
        &[foot(View::Sessions, 0, "Enter", "resume")],
    ),
    shown(
        row(
            S::Conversations,
            A::Export,
            &[any(K::Char('e'))],
            "e",
            "export it to Markdown (current directory)",
        ),
        &[foot(View::Sessions, 1, "e", "export")],
    ),
    shown(
        row(
            S::Conversations,
            A::NewConversation,
            &[any(K::Char('n'))],
            "n",
            "start a new conversation",
        ),
        &[foot(View::Sessions, 2, "n", "new")],
    ),
    shown(
        row(
            S::Conversations,
            A::Filter,
            &[any(K::Char('/'))],
            "/",
            "filter by title (Esc clears)",
        ),
        &[foot(View::Sessions, 3, "/", "filter")],
    ),
    row(
        S::Conversations,
        A::Up,
        &[any(K::Up), any(K::Char('k'))],
        "Up / Down",
        "select a conversation",
    ),
    unlisted(
        S::Conversations,
        A::Down,
        &[any(K::Down), any(K::Char('j'))],
    ),
    unlisted(S::Conversations, A::PageUp, &[any(K::PageUp)]),
    unlisted(S::Conversations, A::PageDown, &[any(K::PageDown)]),
    unlisted(S::Conversations, A::Top, &[any(K::Home), any(K::Char('g'))]),
    unlisted(
        S::Conversations,
        A::Bottom,
        &[any(K::End), any(K::Char('G'))],
    ),
    unlisted(S::Pools, A::Up, &[any(K::Up), any(K::Char('k'))]),
    unlisted(S::Pools, A::Down, &[any(K::Down), any(K::Char('j'))]),
    unlisted(S::Pools, A::PageUp, &[any(K::PageUp)]),
    unlisted(
        S::Pools,
        A::PageDown,
        &[any(K::PageDown), any(K::Char(' '))],
    ),
    shown(
        row(
            S::Pools,
            A::Reset,
            &[any(K::Char('r'))],
            "r",
            "take every model and key back into rotation: clears cooldowns, backoffs and \
             disabled keys (like `rota reset`)",
        ),
        &[foot(View::Dashboard, 2, "r", "reset")],
    ),
    unlisted(S::Pools, A::Top, &[any(K::Home)]),
    unlisted(S::Pools, A::Bottom, &[any(K::End)]),
    unlisted(S::Help, A::Up, &[any(K::Up), any(K::Char('k'))]),
    unlisted(S::Help, A::Down, &[any(K::Down), any(K::Char('j'))]),
    unlisted(S::Help, A::PageUp, &[any(K::PageUp)]),
    unlisted(S::Help, A::PageDown, &[any(K::PageDown)]),
    row(
        S::Any,
        A::Interrupt,
        &[ctrl('c')],
        "Ctrl+C",
        "stop the answer, or quit when none streams",
    ),
    shown(
        row(S::Any, A::Quit, &[ctrl('q')], "Ctrl+Q", "quit"),
        &[
            foot(View::Chat, 8, "Ctrl+Q", "quit"),
            foot(View::Dashboard, 3, "Ctrl+Q", "quit"),
            foot(View::Keys, 3, "Ctrl+Q", "quit"),
            foot(View::Sessions, 6, "Ctrl+Q", "quit"),
        ],
    ),
];

/// What `key` does in `section`, if anything; `typing`: a text field holds text. A chord
/// that names its modifiers wins over one that takes any (Alt+Enter is a new line, not a
/// send); between equals the table's order decides.
pub fn lookup(section: Section, key: &KeyEvent, typing: bool) -> Option<Act> {
    let mut found: Option<(bool, Act)> = None;
    for b in BINDINGS.iter().filter(|b| b.section == section) {
        for c in b.chords.iter().filter(|c| c.matches(key, typing)) {
            if found.is_none_or(|(specific, _)| !specific && c.specific()) {
                found = Some((c.specific(), b.act));
            }
        }
    }
    found.map(|(_, act)| act)
}

/// The help overlay's rows, in order: (section, keys, what it does).
pub fn help_rows() -> impl Iterator<Item = (Section, &'static str, &'static str)> {
    BINDINGS
        .iter()
        .filter_map(|b| b.help.map(|h| (b.section, b.keys, h)))
}

/// The footer of `view`, most needed first: (key, word).
pub fn footer(view: View) -> Vec<(&'static str, &'static str)> {
    let mut items: Vec<&Footer> = BINDINGS
        .iter()
        .flat_map(|b| b.footer)
        .filter(|f| f.view == view)
        .collect();
    items.sort_by_key(|f| f.rank);
    items.into_iter().map(|f| (f.key, f.word)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn modifiers_pick_the_binding() {
        let none = KeyModifiers::NONE;
        let chat = |c, m| lookup(Section::Chat, &k(c, m), false);
        assert_eq!(chat(K::Enter, none), Some(A::Send));
        assert_eq!(chat(K::Enter, KeyModifiers::ALT), Some(A::NewLine));
        assert_eq!(chat(K::Enter, KeyModifiers::SHIFT), Some(A::NewLine));
        assert_eq!(chat(K::Enter, KeyModifiers::CONTROL), Some(A::Send));
        assert_eq!(chat(K::Char('j'), KeyModifiers::CONTROL), Some(A::NewLine));
        assert_eq!(chat(K::Up, none), Some(A::RecallOlder));
        assert_eq!(chat(K::Up, KeyModifiers::ALT), Some(A::Up));
        assert_eq!(chat(K::Up, KeyModifiers::SHIFT), None);
        assert_eq!(chat(K::Tab, KeyModifiers::CONTROL), None);
        assert_eq!(chat(K::Char('3'), KeyModifiers::ALT), Some(A::PickTask));
        assert_eq!(chat(K::Char('6'), KeyModifiers::ALT), None);
        assert_eq!(
            chat(K::Char('y'), KeyModifiers::CONTROL | KeyModifiers::ALT),
            Some(A::CopyAnswer)
        );
        assert_eq!(chat(K::Char('y'), none), None);
    }

    #[test]
    fn question_mark_opens_help_only_when_nothing_is_typed() {
        let q = k(K::Char('?'), KeyModifiers::SHIFT);
        assert_eq!(lookup(Section::Views, &q, false), Some(A::Help));
        assert_eq!(lookup(Section::Views, &q, true), None);
        let f1 = k(K::F(1), KeyModifiers::NONE);
        assert_eq!(lookup(Section::Views, &f1, true), Some(A::Help));
    }

    #[test]
    fn every_listed_key_does_something_and_no_chord_is_bound_twice() {
        for b in BINDINGS {
            assert!(
                b.act == A::Command || !b.chords.is_empty(),
                "{:?} has no key",
                b.act
            );
        }
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                if a.section == b.section {
                    for c in a.chords {
                        assert!(!b.chords.contains(c), "{c:?} is bound twice");
                    }
                }
            }
        }
    }

    #[test]
    fn footers_keep_help_and_quit() {
        for view in [View::Chat, View::Dashboard, View::Keys, View::Sessions] {
            let items = footer(view);
            assert!(items.contains(&("F1", "help")), "{view:?}");
            assert_eq!(items.last(), Some(&("Ctrl+Q", "quit")), "{view:?}");
        }
        assert_eq!(footer(View::Chat)[0], ("Enter", "send"));
    }
}
