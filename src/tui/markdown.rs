//! Markdown to wrapped, styled terminal lines, with code blocks highlighted by syntect.
//!
//! [`render`] is pure: the same text, width and theme give the same lines, so the chat pane
//! caches its output per message and calls it again only on resize or when a message grows.

use super::theme::Theme;
use pulldown_cmark::{CodeBlockKind, Event as Md, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use std::sync::OnceLock;
use syntect::easy::HighlightLines;
use syntect::highlighting::ThemeSet;
use syntect::parsing::SyntaxSet;
use unicode_width::UnicodeWidthChar;

/// A code block of a rendered message: its text (for copying) and where its lines are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeBlock {
    /// The language named after the fence, if any.
    pub lang: Option<String>,
    /// The code as written, without the fence.
    pub text: String,
    /// First rendered line (index into [`Rendered::lines`]).
    pub first: usize,
    /// One past the last rendered line.
    pub end: usize,
}

/// A message rendered at one width.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rendered {
    /// The wrapped lines; none is wider than the width.
    pub lines: Vec<Line<'static>>,
    /// The code blocks, in order.
    pub code_blocks: Vec<CodeBlock>,
}

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

fn themes() -> &'static ThemeSet {
    static SET: OnceLock<ThemeSet> = OnceLock::new();
    SET.get_or_init(ThemeSet::load_defaults)
}

/// The names of the syntect themes code blocks can use (`syntax = "…"` in a theme).
pub fn syntax_themes() -> Vec<String> {
    themes().themes.keys().cloned().collect()
}

/// One unwrapped line: a first-line prefix, a continuation prefix, and the content.
#[derive(Clone, Debug, PartialEq)]
struct Logical {
    first: Vec<Span<'static>>,
    rest: Vec<Span<'static>>,
    spans: Vec<Span<'static>>,
    /// Code: hard-wrapped at the width, white space kept.
    code: bool,
    /// A horizontal rule: cut to the width, never wrapped.
    rule: bool,
}

/// Markdown parsed and highlighted, before wrapping: what does not depend on the width.
/// A resize only calls [`layout`] again; a new text calls [`parse`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    logical: Vec<Logical>,
    blocks: Vec<(Option<String>, String, usize, usize)>,
}

impl Parsed {
    /// Gives every span (prefixes included) one style, and forgets code blocks: for
    /// notices and errors.
    pub fn restyle(mut self, style: Style) -> Self {
        for l in &mut self.logical {
            for s in l.first.iter_mut().chain(&mut l.rest).chain(&mut l.spans) {
                s.style = style;
            }
        }
        self.blocks.clear();
        self
    }
}

#[derive(Default)]
struct Builder {
    out: Vec<Logical>,
    /// Inline spans of the paragraph being read.
    cur: Vec<Span<'static>>,
    styles: Vec<Style>,
    /// Nesting: list markers (`None` bullet, `Some(n)` numbered) and quotes.
    containers: Vec<Container>,
    /// The bullet of an item whose first line is not yet out.
    pending_marker: Option<String>,
    code: Option<(Option<String>, String)>,
    blocks: Vec<(Option<String>, String, usize, usize)>,
    table_row: Vec<String>,
    table_cell: String,
    in_cell: bool,
}

enum Container {
    List(Option<u64>),
    Quote,
}

impl Builder {
    fn style(&self, base: Style) -> Style {
        self.styles.iter().fold(base, |acc, s| acc.patch(*s))
    }

    fn prefixes(&mut self, theme: &Theme) -> (Vec<Span<'static>>, Vec<Span<'static>>) {
        let mut first = Vec::new();
        let mut rest = Vec::new();
        let depth_lists = self
            .containers
            .iter()
            .filter(|c| matches!(c, Container::List(_)))
            .count();
        let mut seen_lists = 0;
        for c in &self.containers {
            match c {
                Container::Quote => {
                    first.push(Span::styled("│ ", theme.quote));
                    rest.push(Span::styled("│ ", theme.quote));
                }
                Container::List(_) => {
                    seen_lists += 1;
                    if seen_lists < depth_lists {
                        first.push(Span::raw("  "));
                        rest.push(Span::raw("  "));
                    }
                }
            }
        }
        if depth_lists > 0 {
            match self.pending_marker.take() {
                Some(m) => {
                    let w = m.chars().count();
                    first.push(Span::styled(m, theme.accent));
                    rest.push(Span::raw(" ".repeat(w)));
                }
                None => {
                    first.push(Span::raw("  "));
                    rest.push(Span::raw("  "));
                }
            }
        }
        (first, rest)
    }

    fn flush(&mut self, theme: &Theme) {
        if self.cur.is_empty() && self.pending_marker.is_none() {
            return;
        }
        let (first, rest) = self.prefixes(theme);
        let spans = std::mem::take(&mut self.cur);
        self.out.push(Logical {
            first,
            rest,
            spans,
            code: false,
            rule: false,
        });
    }

    fn blank(&mut self) {
        if self
            .out
            .last()
            .is_some_and(|l| !(l.spans.is_empty() && l.first.is_empty()))
        {
            self.out.push(Logical {
                first: vec![],
                rest: vec![],
                spans: vec![],
                code: false,
                rule: false,
            });
        }
    }

    fn push_text(&mut self, text: &str, theme: &Theme) {
        if self.in_cell {
            self.table_cell.push_str(text);
            return;
        }
        let st = self.style(theme.text);
        self.cur.push(Span::styled(text.to_string(), st));
    }
}

/// Renders markdown `text` into lines at most `width` columns wide.
pub fn render(text: &str, width: u16, theme: &Theme) -> Rendered {
    layout(&parse(text, theme), width)
}

/// Parses markdown and highlights its code blocks.
pub fn parse(text: &str, theme: &Theme) -> Parsed {
    let mut b = Builder::default();
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    for ev in Parser::new_ext(text, opts) {
        match ev {
            Md::Start(tag) => match tag {
                Tag::Paragraph => {}
                Tag::Heading { level, .. } => {
                    b.flush(theme);
                    let hashes = match level {
                        HeadingLevel::H1 => 1,
                        HeadingLevel::H2 => 2,
                        HeadingLevel::H3 => 3,
                        _ => 4,
                    };
                    b.cur
                        .push(Span::styled(format!("{} ", "#".repeat(hashes)), theme.dim));
                    b.styles.push(theme.heading);
                }
                Tag::BlockQuote(_) => {
                    b.flush(theme);
                    b.containers.push(Container::Quote);
                    b.styles.push(theme.quote);
                }
                Tag::CodeBlock(kind) => {
                    b.flush(theme);
                    let lang = match kind {
                        CodeBlockKind::Fenced(info) => info
                            .split(|c: char| c.is_whitespace() || c == ',')
                            .next()
                            .filter(|s| !s.is_empty())
                            .map(str::to_string),
                        CodeBlockKind::Indented => None,
                    };
                    b.code = Some((lang, String::new()));
                }
                Tag::List(start) => {
                    b.flush(theme);
                    b.containers.push(Container::List(start));
                }
                Tag::Item => {
                    b.flush(theme);
                    let marker = match b.containers.iter_mut().rev().find_map(|c| match c {
                        Container::List(n) => Some(n),
                        Container::Quote => None,
                    }) {
                        Some(Some(n)) => {
                            let m = format!("{n}. ");
                            *n += 1;
                            m
                        }
                        _ => "• ".to_string(),
                    };
                    b.pending_marker = Some(marker);
                }
                Tag::Emphasis => b.styles.push(theme.emphasis),
                Tag::Strong => b.styles.push(theme.strong),
                Tag::Strikethrough => b
                    .styles
                    .push(Style::default().add_modifier(ratatui::style::Modifier::CROSSED_OUT)),
                Tag::Link { .. } => b.styles.push(theme.link),
                Tag::Image { .. } => b.styles.push(theme.link),
                Tag::Table(_) => b.flush(theme),
                Tag::TableHead | Tag::TableRow => b.table_row.clear(),
                Tag::TableCell => {
                    b.in_cell = true;
                    b.table_cell.clear();
                }
                _ => {}
            },
            Md::End(end) => match end {
                TagEnd::Paragraph => {
                    b.flush(theme);
                    if !b.containers.iter().any(|c| matches!(c, Container::List(_))) {
                        b.blank();
                    }
                }
                TagEnd::Heading(_) => {
                    b.styles.pop();
                    b.flush(theme);
                    b.blank();
                }
                TagEnd::BlockQuote(_) => {
                    b.flush(theme);
                    b.styles.pop();
                    b.containers.pop();
                    if b.containers.is_empty() {
                        b.blank();
                    }
                }
                TagEnd::CodeBlock => {
                    if let Some((lang, code)) = b.code.take() {
                        let start = b.out.len();
                        code_lines(&mut b, lang.as_deref(), &code, theme);
                        let end = b.out.len();
                        b.blocks.push((lang, code, start, end));
                        b.blank();
                    }
                }
                TagEnd::List(_) => {
                    b.flush(theme);
                    b.containers.pop();
                    if b.containers.is_empty() {
                        b.blank();
                    }
                }
                TagEnd::Item => b.flush(theme),
                TagEnd::Emphasis
                | TagEnd::Strong
                | TagEnd::Strikethrough
                | TagEnd::Link
                | TagEnd::Image => {
                    b.styles.pop();
                }
                TagEnd::TableCell => {
                    b.in_cell = false;
                    let cell = std::mem::take(&mut b.table_cell);
                    b.table_row.push(cell);
                }
                TagEnd::TableHead | TagEnd::TableRow => {
                    let head = matches!(end, TagEnd::TableHead);
                    let row = std::mem::take(&mut b.table_row).join(" │ ");
                    let st = if head { theme.strong } else { theme.text };
                    b.cur.push(Span::styled(row, st));
                    b.flush(theme);
                }
                TagEnd::Table => b.blank(),
                _ => {}
            },
            Md::Text(t) => {
                if let Some((_, code)) = b.code.as_mut() {
                    code.push_str(&t);
                } else {
                    b.push_text(&t, theme);
                }
            }
            Md::Code(t) => {
                if b.in_cell {
                    b.table_cell.push_str(&t);
                } else {
                    let st = b.style(theme.code_inline);
                    b.cur.push(Span::styled(t.to_string(), st));
                }
            }
            Md::Html(t) | Md::InlineHtml(t) => b.push_text(t.trim_end_matches('\n'), theme),
            Md::SoftBreak => b.push_text(" ", theme),
            Md::HardBreak => b.flush(theme),
            Md::Rule => {
                b.flush(theme);
                let (first, rest) = b.prefixes(theme);
                b.out.push(Logical {
                    first,
                    rest,
                    spans: vec![Span::styled("─".repeat(40), theme.dim)],
                    code: false,
                    rule: true,
                });
                b.blank();
            }
            Md::TaskListMarker(done) => {
                let m = if done { "[x] " } else { "[ ] " };
                b.cur.push(Span::styled(m, theme.accent));
            }
            Md::FootnoteReference(t) => b.push_text(&format!("[{t}]"), theme),
            Md::InlineMath(t) | Md::DisplayMath(t) => b.push_text(&t, theme),
        }
    }
    // A stream cut inside a fence: still show the code.
    if let Some((lang, code)) = b.code.take() {
        let start = b.out.len();
        code_lines(&mut b, lang.as_deref(), &code, theme);
        let end = b.out.len();
        b.blocks.push((lang, code, start, end));
    }
    b.flush(theme);
    while b
        .out
        .last()
        .is_some_and(|l| l.spans.is_empty() && l.first.is_empty())
    {
        b.out.pop();
    }

    Parsed {
        logical: b.out,
        blocks: b.blocks,
    }
}

/// Wraps parsed markdown to `width` columns.
pub fn layout(p: &Parsed, width: u16) -> Rendered {
    let width = width.max(1) as usize;
    // Wrap, mapping logical indexes to wrapped ones for code blocks.
    let mut lines = Vec::new();
    let mut starts = Vec::with_capacity(p.logical.len() + 1);
    for l in &p.logical {
        starts.push(lines.len());
        wrap(l, width, &mut lines);
    }
    starts.push(lines.len());
    let code_blocks = p
        .blocks
        .iter()
        .map(|(lang, text, s, e)| (lang.clone(), text.clone(), *s, *e))
        .map(|(lang, text, s, e)| CodeBlock {
            lang,
            text,
            first: starts.get(s).copied().unwrap_or(lines.len()),
            end: starts.get(e).copied().unwrap_or(lines.len()),
        })
        .collect();
    Rendered { lines, code_blocks }
}

fn code_lines(b: &mut Builder, lang: Option<&str>, code: &str, theme: &Theme) {
    let (mut first, _) = b.prefixes(theme);
    first.push(Span::styled("│ ", theme.dim));
    let ss = syntaxes();
    let syntax = lang
        .and_then(|l| ss.find_syntax_by_token(l))
        .unwrap_or_else(|| ss.find_syntax_plain_text());
    let mut hl = theme
        .syntax
        .as_deref()
        .and_then(|name| themes().themes.get(name))
        .map(|t| HighlightLines::new(syntax, t));
    let code = code.strip_suffix('\n').unwrap_or(code);
    for line in code.split('\n') {
        let with_nl = format!("{line}\n");
        let spans: Vec<Span<'static>> = match hl.as_mut().map(|h| h.highlight_line(&with_nl, ss)) {
            Some(Ok(parts)) => parts
                .into_iter()
                .map(|(st, text)| {
                    let c = st.foreground;
                    Span::styled(
                        text.trim_end_matches('\n').to_string(),
                        theme.code_block.fg(theme.reduce(c.r, c.g, c.b)),
                    )
                })
                .filter(|s| !s.content.is_empty())
                .collect(),
            _ => vec![Span::styled(line.to_string(), theme.code_block)],
        };
        b.out.push(Logical {
            first: first.clone(),
            rest: first.clone(),
            spans,
            code: true,
            rule: false,
        });
    }
}

/// Tabs become four spaces; other control characters (escape sequences a model or a
/// provider might send) are dropped so they never reach the terminal.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push_str("    "),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn spans_width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(|s| s.width()).sum()
}

fn char_w(c: char) -> usize {
    if c == '\t' { 4 } else { c.width().unwrap_or(0) }
}

/// Greedy word wrap of one logical line into `out`.
fn wrap(l: &Logical, width: usize, out: &mut Vec<Line<'static>>) {
    let first_w = spans_width(&l.first);
    let rest_w = spans_width(&l.rest);
    // A prefix wider than the screen: drop it rather than loop.
    let (mut prefix, rest_prefix) = if first_w >= width || rest_w >= width {
        (Vec::new(), Vec::new())
    } else {
        (l.first.clone(), l.rest.clone())
    };
    if l.rule {
        let room = width - spans_width(&prefix);
        prefix.extend(
            l.spans
                .iter()
                .map(|s| Span::styled(s.content.chars().take(room).collect::<String>(), s.style)),
        );
        out.push(Line::from(prefix));
        return;
    }
    let avail_first = width - spans_width(&prefix);
    let avail_rest = width - spans_width(&rest_prefix);
    let mut avail = avail_first;
    let mut line: Vec<Span<'static>> = std::mem::take(&mut prefix);
    let mut used = 0usize;
    let mut emitted = false;
    let mut push_line = |line: &mut Vec<Span<'static>>, used: &mut usize, avail: &mut usize| {
        out.push(Line::from(std::mem::take(line)));
        line.extend(rest_prefix.iter().cloned());
        *used = 0;
        *avail = avail_rest;
    };
    for span in &l.spans {
        let style = span.style;
        let text = sanitize(&span.content);
        // Split into runs of spaces and non-spaces (code: single characters may break anywhere).
        let mut tokens: Vec<&str> = Vec::new();
        let mut start = 0;
        let mut prev_space: Option<bool> = None;
        for (i, c) in text.char_indices() {
            let sp = c == ' ';
            if prev_space.is_some_and(|p| p != sp) {
                tokens.push(&text[start..i]);
                start = i;
            }
            prev_space = Some(sp);
        }
        if start < text.len() {
            tokens.push(&text[start..]);
        }
        for tok in tokens {
            let tw: usize = tok.chars().map(char_w).sum();
            let is_space = tok.starts_with(' ');
            if used + tw <= avail {
                line.push(Span::styled(tok.to_string(), style));
                used += tw;
                continue;
            }
            if is_space && !l.code {
                // Break here; the spaces vanish.
                push_line(&mut line, &mut used, &mut avail);
                emitted = true;
                continue;
            }
            if used > 0 && tw <= avail_rest && !l.code {
                push_line(&mut line, &mut used, &mut avail);
                emitted = true;
            }
            // Place the token, splitting by characters where it does not fit.
            let mut piece = String::new();
            for c in tok.chars() {
                let cw = char_w(c);
                if used + cw > avail && (used > 0 || !piece.is_empty()) {
                    if !piece.is_empty() {
                        line.push(Span::styled(std::mem::take(&mut piece), style));
                    }
                    push_line(&mut line, &mut used, &mut avail);
                    emitted = true;
                }
                if cw > avail {
                    continue; // a wide character on a 1-column screen
                }
                piece.push(c);
                used += cw;
            }
            if !piece.is_empty() {
                line.push(Span::styled(piece, style));
            }
        }
    }
    let _ = emitted;
    out.push(Line::from(line));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(r: &Rendered) -> Vec<String> {
        r.lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn wraps_words_within_width() {
        let t = Theme::default_dark();
        let r = render("the quick brown fox jumps over the lazy dog", 12, &t);
        let p = plain(&r);
        assert!(p.iter().all(|l| l.chars().count() <= 12), "{p:?}");
        assert_eq!(p[0], "the quick ");
        assert_eq!(
            p.join("").replace("  ", " "),
            "the quick brown fox jumps over the lazy dog"
        );
    }

    #[test]
    fn long_words_are_split() {
        let t = Theme::default_dark();
        let r = render(&"x".repeat(25), 10, &t);
        assert_eq!(
            plain(&r),
            vec!["x".repeat(10), "x".repeat(10), "x".repeat(5)]
        );
    }

    #[test]
    fn code_block_is_recorded_and_highlighted() {
        let t = Theme::default_dark();
        let md = "Here:\n\n```rust\nfn main() {\n    println!(\"hi\");\n}\n```\n\nDone.";
        let r = render(md, 40, &t);
        let p = plain(&r);
        assert_eq!(r.code_blocks.len(), 1);
        let cb = &r.code_blocks[0];
        assert_eq!(cb.lang.as_deref(), Some("rust"));
        assert_eq!(cb.text, "fn main() {\n    println!(\"hi\");\n}\n");
        assert_eq!(p[cb.first], "│ fn main() {");
        assert_eq!(cb.end - cb.first, 3);
        // Highlighted: the keyword gets a different colour from the identifier.
        let l = &r.lines[cb.first];
        let colours: std::collections::HashSet<_> = l.spans.iter().map(|s| s.style.fg).collect();
        assert!(colours.len() > 2, "{l:?}");
        assert_eq!(p.last().map(String::as_str), Some("Done."));
    }

    #[test]
    fn unclosed_fence_while_streaming_is_code() {
        let t = Theme::default_dark();
        let r = render("```py\nprint(1)", 40, &t);
        assert_eq!(r.code_blocks.len(), 1);
        assert_eq!(plain(&r), vec!["│ print(1)"]);
    }

    #[test]
    fn lists_quotes_and_headings() {
        let t = Theme::no_color();
        let r = render(
            "# Title\n\n- one\n- two\n  - deep\n\n1. a\n2. b\n\n> quoted",
            40,
            &t,
        );
        let p = plain(&r);
        assert_eq!(
            p,
            vec![
                "# Title",
                "",
                "• one",
                "• two",
                "  • deep",
                "",
                "1. a",
                "2. b",
                "",
                "│ quoted"
            ]
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        #[test]
        fn any_text_fits_any_width(
            text in "[a-z #*`>\\-\n漢\t1.]{0,120}",
            width in 1u16..50,
        ) {
            let t = Theme::default_dark();
            let r = render(&text, width, &t);
            for l in &r.lines {
                proptest::prop_assert!(l.width() <= width as usize, "w={} {:?}", width, l);
            }
            for cb in &r.code_blocks {
                proptest::prop_assert!(cb.first <= cb.end && cb.end <= r.lines.len());
            }
        }
    }

    #[test]
    fn escape_sequences_never_reach_the_terminal() {
        let t = Theme::no_color();
        let r = render(
            "red \u{1b}[31mtext\u{7}\tend\n\n```\n\u{1b}]52;c;AAAA\u{7}\n```",
            40,
            &t,
        );
        let all: String = plain(&r).concat();
        assert!(!all.chars().any(|c| c.is_control()), "{all:?}");
        assert!(all.contains("red [31mtext    end"));
    }

    #[test]
    fn never_wider_than_width_at_tiny_sizes() {
        let t = Theme::default_dark();
        let md = "- a list item with words\n\n> a quote\n\n```\nlong code line here\n```\n漢字漢字";
        for w in 1..12u16 {
            let r = render(md, w, &t);
            for l in &r.lines {
                assert!(l.width() <= w as usize, "w={w} {l:?}");
            }
        }
    }
}
