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
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

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
    blocks: Vec<Block>,
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
    blocks: Vec<Block>,
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
    pass(text, theme, false).rest
}

/// What one parse of a text gave.
struct Pass {
    /// Bytes of the text in finished blocks (0 when none was looked for or found).
    split: usize,
    /// The finished blocks: logical lines (ending with the blank line after the last) and
    /// code blocks.
    finished: Parsed,
    /// The blocks from `split` on, as [`parse`] gives them for that text alone.
    rest: Parsed,
    /// The text defines a link reference (which may change a link anywhere in it).
    defines_links: bool,
}

/// Parses `text`; with `split`, also finds where the blocks that nothing appended to the
/// text can change end: before the last top-level block that starts on a complete line
/// after a blank line (with every container closed, what follows a blank line cannot reach
/// back: no lazy line, setext underline or table delimiter row crosses one).
fn pass(text: &str, theme: &Theme, split: bool) -> Pass {
    let mut b = Builder::default();
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut events = Parser::new_ext(text, opts).into_offset_iter();
    let mut depth = 0usize;
    let mut found = None;
    for (ev, range) in events.by_ref() {
        match ev {
            Md::Start(_) => {
                if split && depth == 0 && b.between_blocks() && after_blank_line(text, range.start)
                {
                    found = Some((range.start, b.out.len(), b.blocks.len()));
                }
                depth += 1;
            }
            Md::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        b.event(ev, theme);
    }
    let defines_links = events.reference_definitions().iter().next().is_some();
    let (split, finished) = match found {
        Some((at, lines, blocks)) => {
            let logical: Vec<Logical> = b.out.drain(..lines).collect();
            let blocks: Vec<_> = b.blocks.drain(..blocks).collect();
            for block in &mut b.blocks {
                block.2 -= lines;
                block.3 -= lines;
            }
            (at, Parsed { logical, blocks })
        }
        None => (0, Parsed::default()),
    };
    Pass {
        split,
        finished,
        rest: b.finish(theme),
        defines_links,
    }
}

/// Whether byte `at` of `text` starts a complete line that follows a blank one.
fn after_blank_line(text: &str, at: usize) -> bool {
    let (Some(before), Some(after)) = (text.get(..at), text.get(at..)) else {
        return false;
    };
    let Some(before) = before.strip_suffix('\n') else {
        return false;
    };
    let previous = before.rsplit('\n').next().unwrap_or(before);
    previous.chars().all(|c| matches!(c, ' ' | '\t' | '\r')) && after.contains('\n')
}

impl Builder {
    /// Nothing open: no container, style, pending text or code block (an HTML block leaves
    /// its text pending).
    fn between_blocks(&self) -> bool {
        self.cur.is_empty()
            && self.styles.is_empty()
            && self.containers.is_empty()
            && self.pending_marker.is_none()
            && self.code.is_none()
            && !self.in_cell
            && self.table_row.is_empty()
    }

    /// Takes one event of the parser.
    fn event(&mut self, ev: Md<'_>, theme: &Theme) {
        match ev {
            Md::Start(tag) => match tag {
                Tag::Paragraph => {}
                Tag::Heading { level, .. } => {
                    self.flush(theme);
                    let hashes = match level {
                        HeadingLevel::H1 => 1,
                        HeadingLevel::H2 => 2,
                        HeadingLevel::H3 => 3,
                        _ => 4,
                    };
                    self.cur
                        .push(Span::styled(format!("{} ", "#".repeat(hashes)), theme.dim));
                    self.styles.push(theme.heading);
                }
                Tag::BlockQuote(_) => {
                    self.flush(theme);
                    self.containers.push(Container::Quote);
                    self.styles.push(theme.quote);
                }
                Tag::CodeBlock(kind) => {
                    self.flush(theme);
                    let lang = match kind {
                        CodeBlockKind::Fenced(info) => info
                            .split(|c: char| c.is_whitespace() || c == ',')
                            .next()
                            .filter(|s| !s.is_empty())
                            .map(str::to_string),
                        CodeBlockKind::Indented => None,
                    };
                    self.code = Some((lang, String::new()));
                }
                Tag::List(start) => {
                    self.flush(theme);
                    self.containers.push(Container::List(start));
                }
                Tag::Item => {
                    self.flush(theme);
                    let marker = match self.containers.iter_mut().rev().find_map(|c| match c {
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
                    self.pending_marker = Some(marker);
                }
                Tag::Emphasis => self.styles.push(theme.emphasis),
                Tag::Strong => self.styles.push(theme.strong),
                Tag::Strikethrough => self
                    .styles
                    .push(Style::default().add_modifier(ratatui::style::Modifier::CROSSED_OUT)),
                Tag::Link { .. } => self.styles.push(theme.link),
                Tag::Image { .. } => self.styles.push(theme.link),
                Tag::Table(_) => self.flush(theme),
                Tag::TableHead | Tag::TableRow => self.table_row.clear(),
                Tag::TableCell => {
                    self.in_cell = true;
                    self.table_cell.clear();
                }
                _ => {}
            },
            Md::End(end) => match end {
                TagEnd::Paragraph => {
                    self.flush(theme);
                    if !self
                        .containers
                        .iter()
                        .any(|c| matches!(c, Container::List(_)))
                    {
                        self.blank();
                    }
                }
                TagEnd::Heading(_) => {
                    self.styles.pop();
                    self.flush(theme);
                    self.blank();
                }
                TagEnd::BlockQuote(_) => {
                    self.flush(theme);
                    self.styles.pop();
                    self.containers.pop();
                    if self.containers.is_empty() {
                        self.blank();
                    }
                }
                TagEnd::CodeBlock => {
                    if let Some((lang, code)) = self.code.take() {
                        let start = self.out.len();
                        code_lines(self, lang.as_deref(), &code, theme);
                        let end = self.out.len();
                        self.blocks.push((lang, code, start, end));
                        self.blank();
                    }
                }
                TagEnd::List(_) => {
                    self.flush(theme);
                    self.containers.pop();
                    if self.containers.is_empty() {
                        self.blank();
                    }
                }
                TagEnd::Item => self.flush(theme),
                TagEnd::Emphasis
                | TagEnd::Strong
                | TagEnd::Strikethrough
                | TagEnd::Link
                | TagEnd::Image => {
                    self.styles.pop();
                }
                TagEnd::TableCell => {
                    self.in_cell = false;
                    let cell = std::mem::take(&mut self.table_cell);
                    self.table_row.push(cell);
                }
                TagEnd::TableHead | TagEnd::TableRow => {
                    let head = matches!(end, TagEnd::TableHead);
                    let row = std::mem::take(&mut self.table_row).join(" │ ");
                    let st = if head { theme.strong } else { theme.text };
                    self.cur.push(Span::styled(row, st));
                    self.flush(theme);
                }
                TagEnd::Table => self.blank(),
                _ => {}
            },
            Md::Text(t) => {
                if let Some((_, code)) = self.code.as_mut() {
                    code.push_str(&t);
                } else {
                    self.push_text(&t, theme);
                }
            }
            Md::Code(t) => {
                if self.in_cell {
                    self.table_cell.push_str(&t);
                } else {
                    let st = self.style(theme.code_inline);
                    self.cur.push(Span::styled(t.to_string(), st));
                }
            }
            Md::Html(t) | Md::InlineHtml(t) => self.push_text(t.trim_end_matches('\n'), theme),
            Md::SoftBreak => self.push_text(" ", theme),
            Md::HardBreak => self.flush(theme),
            Md::Rule => {
                self.flush(theme);
                let (first, rest) = self.prefixes(theme);
                self.out.push(Logical {
                    first,
                    rest,
                    spans: vec![Span::styled("─".repeat(40), theme.dim)],
                    code: false,
                    rule: true,
                });
                self.blank();
            }
            Md::TaskListMarker(done) => {
                let m = if done { "[x] " } else { "[ ] " };
                self.cur.push(Span::styled(m, theme.accent));
            }
            Md::FootnoteReference(t) => self.push_text(&format!("[{t}]"), theme),
            Md::InlineMath(t) | Md::DisplayMath(t) => self.push_text(&t, theme),
        }
    }

    /// Ends the text: shows a code block cut while streaming, and drops trailing blank lines.
    fn finish(mut self, theme: &Theme) -> Parsed {
        if let Some((lang, code)) = self.code.take() {
            let start = self.out.len();
            code_lines(&mut self, lang.as_deref(), &code, theme);
            let end = self.out.len();
            self.blocks.push((lang, code, start, end));
        }
        self.flush(theme);
        while self.out.last().is_some_and(is_blank) {
            self.out.pop();
        }
        Parsed {
            logical: self.out,
            blocks: self.blocks,
        }
    }
}

/// Wraps parsed markdown to `width` columns.
pub fn layout(p: &Parsed, width: u16) -> Rendered {
    let mut r = Rendered::default();
    lay(&p.logical, 0, &p.blocks, width.max(1) as usize, &mut r);
    r
}

/// A code block of a parse: language, text, first logical line and one past its last.
type Block = (Option<String>, String, usize, usize);

/// Wraps `logical` (lines `first..` of a parse) to `width` columns onto `out`, with the
/// code blocks `blocks` (which lie in those lines), mapping logical indexes to wrapped ones.
fn lay(logical: &[Logical], first: usize, blocks: &[Block], width: usize, out: &mut Rendered) {
    let mut starts = Vec::with_capacity(logical.len());
    for l in logical {
        starts.push(out.lines.len());
        wrap(l, width, &mut out.lines);
    }
    let end = out.lines.len();
    let at = |i: usize| {
        i.checked_sub(first)
            .and_then(|i| starts.get(i).copied())
            .unwrap_or(end)
    };
    out.code_blocks
        .extend(blocks.iter().map(|(lang, text, s, e)| CodeBlock {
            lang: lang.clone(),
            text: text.clone(),
            first: at(*s),
            end: at(*e),
        }));
}

/// Whether a logical line is an empty one between blocks.
fn is_blank(l: &Logical) -> bool {
    l.spans.is_empty() && l.first.is_empty()
}

/// Markdown that grows at its end (an answer streaming in), rendered so that new text costs
/// only the part it can still change: the blocks before the last blank line that a new
/// top-level block follows are parsed, highlighted and wrapped once, and only the open tail
/// after them is parsed again. The lines are exactly [`render`]'s for the whole text. A
/// text that defines a link reference (which can change a link anywhere in it) is parsed
/// whole every time.
#[derive(Clone, Debug, Default)]
pub struct Growing {
    /// Bytes of the text in finished blocks.
    split: usize,
    /// The finished blocks (their logical lines end with the blank line after the last).
    done: Parsed,
    /// The blocks from `split` on, as last parsed.
    tail: Parsed,
    /// The length of the text last parsed (it only grows: the same length is the same
    /// text); `None` before the first parse.
    parsed_len: Option<usize>,
    /// A link reference definition was seen: nothing is kept between parses.
    whole: bool,
    /// How much of `done` the lines last given to [`Growing::render_into`] hold.
    laid: Option<Laid>,
    /// Parses so far.
    passes: u64,
}

/// The finished blocks' part of the caller's lines: the width, logical lines wrapped, the
/// wrapped lines they gave, and code blocks placed.
#[derive(Clone, Copy, Debug)]
struct Laid {
    width: u16,
    logical: usize,
    lines: usize,
    blocks: usize,
}

impl Growing {
    /// Forgets everything: for a text that is not the last one with more appended.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Forgets what the caller's lines hold: the next [`Growing::render_into`] gets new ones.
    pub fn forget_layout(&mut self) {
        self.laid = None;
    }

    /// How many times a text was parsed: once per new text, never for a resize.
    pub fn passes(&self) -> u64 {
        self.passes
    }

    /// Renders `text` at `width` into `out` from line `from` on: `out`'s lines before `from`
    /// are the caller's and stay; its code blocks are all this text's. `text` is the text of
    /// the last call with more appended (else call [`Growing::reset`] first) and `out` holds
    /// what that call left there, with anything after it dropped (else call
    /// [`Growing::forget_layout`] first).
    pub fn render_into(
        &mut self,
        text: &str,
        width: u16,
        theme: &Theme,
        out: &mut Rendered,
        from: usize,
    ) {
        if text.len() < self.split || self.parsed_len.is_some_and(|n| text.len() < n) {
            self.reset();
        }
        if self.parsed_len != Some(text.len()) {
            self.parse(text, theme);
        }
        let laid = match self.laid {
            Some(l)
                if l.width == width
                    && out.lines.len() >= from + l.lines
                    && out.code_blocks.len() >= l.blocks =>
            {
                l
            }
            _ => Laid {
                width,
                logical: 0,
                lines: 0,
                blocks: 0,
            },
        };
        out.lines.truncate(from + laid.lines);
        out.code_blocks.truncate(laid.blocks);
        let cols = width.max(1) as usize;
        // The blank line after the last finished block belongs to the text only when more
        // follows it (a text never ends with a blank line).
        let blanks = self
            .done
            .logical
            .iter()
            .rev()
            .take_while(|l| is_blank(l))
            .count();
        let body = self.done.logical.len() - blanks;
        lay(
            &self.done.logical[laid.logical..body],
            laid.logical,
            &self.done.blocks[laid.blocks..],
            cols,
            out,
        );
        self.laid = Some(Laid {
            width,
            logical: body,
            lines: out.lines.len() - from,
            blocks: self.done.blocks.len(),
        });
        if !self.tail.logical.is_empty() {
            for l in &self.done.logical[body..] {
                wrap(l, cols, &mut out.lines);
            }
            lay(&self.tail.logical, 0, &self.tail.blocks, cols, out);
        }
    }

    /// Parses what is not finished yet, moving the blocks that got finished to `done`.
    fn parse(&mut self, text: &str, theme: &Theme) {
        self.passes += 1;
        self.parsed_len = Some(text.len());
        if !self.whole
            && let Some(open) = text.get(self.split..)
        {
            let p = pass(open, theme, true);
            if !p.defines_links {
                let base = self.done.logical.len();
                self.done.logical.extend(p.finished.logical);
                self.done.blocks.extend(
                    p.finished
                        .blocks
                        .into_iter()
                        .map(|(lang, code, s, e)| (lang, code, s + base, e + base)),
                );
                self.split += p.split;
                self.tail = p.rest;
                return;
            }
        }
        self.whole = true;
        self.split = 0;
        self.done = Parsed::default();
        self.laid = None;
        self.tail = pass(text, theme, false).rest;
    }
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

/// Greedy word wrap of one logical line into `out`, by grapheme cluster (a letter and its
/// combining marks, an emoji ZWJ sequence or a flag is never split) and display width.
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
        // Split into runs of spaces and non-spaces (code: single graphemes may break anywhere).
        let mut tokens: Vec<(&str, bool)> = Vec::new();
        let mut start = 0;
        let mut prev_space: Option<bool> = None;
        for (i, g) in text.grapheme_indices(true) {
            let sp = g == " ";
            if let Some(p) = prev_space.filter(|&p| p != sp) {
                tokens.push((&text[start..i], p));
                start = i;
            }
            prev_space = Some(sp);
        }
        if let Some(p) = prev_space {
            tokens.push((&text[start..], p));
        }
        for (tok, is_space) in tokens {
            let tw: usize = tok.graphemes(true).map(UnicodeWidthStr::width).sum();
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
            // Place the token, splitting between graphemes where it does not fit.
            let mut piece = String::new();
            for g in tok.graphemes(true) {
                let gw = g.width();
                if used + gw > avail && (used > 0 || !piece.is_empty()) {
                    if !piece.is_empty() {
                        line.push(Span::styled(std::mem::take(&mut piece), style));
                    }
                    push_line(&mut line, &mut used, &mut avail);
                    emitted = true;
                }
                if gw > avail {
                    continue; // a wide character on a 1-column screen
                }
                piece.push_str(g);
                used += gw;
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
    fn wraps_by_grapheme_and_display_width() {
        let t = Theme::no_color();
        // A letter with a combining accent is one column and never loses its accent.
        let accented = "e\u{301}".repeat(7);
        let p = plain(&render(&accented, 3, &t));
        assert_eq!(
            p,
            [
                "e\u{301}".repeat(3),
                "e\u{301}".repeat(3),
                "e\u{301}".into()
            ]
        );
        // An emoji ZWJ sequence (woman + ZWJ + laptop) is one cluster two columns wide.
        let coder = "\u{1F469}\u{200D}\u{1F4BB}";
        let p = plain(&render(&coder.repeat(5), 5, &t));
        assert_eq!(p, [coder.repeat(2), coder.repeat(2), coder.into()]);
        // A flag is two regional indicators, kept together.
        let flag = "\u{1F1EF}\u{1F1F5}";
        assert_eq!(plain(&render(&flag.repeat(3), 3, &t)), [flag; 3]);
        // CJK is two columns a character; a line never passes the width.
        let cjk = "漢字かな交じり文";
        for w in 1..12u16 {
            let r = render(cjk, w, &t);
            for l in &r.lines {
                assert!(l.width() <= w as usize, "w={w} {l:?}");
            }
            let back: String = plain(&r).concat();
            assert_eq!(
                back,
                if w == 1 {
                    String::new()
                } else {
                    cjk.to_string()
                }
            );
        }
        assert_eq!(plain(&render(cjk, 5, &t)), ["漢字", "かな", "交じ", "り文"]);
        // In code too, and mixed with ASCII.
        let code = format!("```\nab{coder}cde\u{301}f\n```");
        assert_eq!(
            plain(&render(&code, 5, &t)),
            [
                "│ ab".to_string(),
                format!("│ {coder}c"),
                "│ de\u{301}f".to_string()
            ]
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

    /// Blocks a streamed answer is made of: every kind, ones that continue or reach back
    /// over a blank line (list items, lazy lines, fences and HTML holding blank lines), and
    /// link references.
    const BLOCKS: &[&str] = &[
        "# Heading",
        "plain words that wrap around\nand a lazy line",
        "more **bold** text",
        "- item",
        "- item\n  - nested",
        "  continued in the item",
        "1. first",
        "2. second",
        "2",
        ". b",
        "- [ ] task",
        "> quoted\n> more",
        "```rust\nfn main() { let x = 1; }\n\nlet y = 2;\n```",
        "```py\nprint(1)",
        "```",
        "~~~\ncode\n~~~",
        "    indented code\n\n    more code",
        "---",
        "Title\n===",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "<div>\n\nhtml text\n</div>",
        "<!--\n\ncomment\n-->",
        "see [the docs][ref]",
        "[ref]: http://example.com",
        "漢字 wide and e\u{301} marks",
    ];

    /// What goes between two blocks.
    const GAPS: &[&str] = &["\n\n", "\n\n", "\n", "\n\n\n", "\n \n"];

    /// Renders `text` after `chunks` of it the way the chat does: a header line, the text
    /// from line 1 on, a blank line after; the text's lines only.
    fn streamed(chunks: &[&str], widths: &[u16], t: &Theme) -> Vec<(String, Rendered)> {
        let mut g = Growing::default();
        let mut out = Rendered::default();
        let mut text = String::new();
        let mut seen = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            text.push_str(c);
            let w = widths[i % widths.len()];
            if i == 0 || widths[(i - 1) % widths.len()] != w {
                out = Rendered {
                    lines: vec![Line::from("▌ header")],
                    code_blocks: Vec::new(),
                };
                g.forget_layout();
            }
            g.render_into(&text, w, t, &mut out, 1);
            let mut r = out.clone();
            r.lines.remove(0);
            for cb in &mut r.code_blocks {
                cb.first -= 1;
                cb.end -= 1;
            }
            seen.push((text.clone(), r));
            out.lines.push(Line::default());
        }
        seen
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn streamed_in_any_chunks_renders_as_the_whole_text(
            blocks in proptest::collection::vec(
                (proptest::sample::select(BLOCKS), proptest::sample::select(GAPS)),
                0..12,
            ),
            newline_at_end in proptest::bool::ANY,
            cuts in proptest::collection::vec(0usize..400, 0..40),
            every_char in proptest::bool::weighted(0.3),
            widths in proptest::collection::vec(1u16..60, 1..3),
        ) {
            let t = Theme::default_dark();
            let mut text: String = blocks.iter().map(|(b, gap)| format!("{b}{gap}")).collect();
            if !newline_at_end {
                text.truncate(text.trim_end_matches(['\n', ' ']).len());
            }
            let cuts = if every_char { (0..text.len()).collect() } else { cuts };
            let mut cuts: Vec<usize> = cuts
                .into_iter()
                .map(|c| c % (text.len() + 1))
                .filter(|&c| text.is_char_boundary(c))
                .collect();
            cuts.push(text.len());
            cuts.sort_unstable();
            cuts.dedup();
            let mut chunks = Vec::new();
            let mut at = 0;
            for c in cuts {
                chunks.push(&text[at..c]);
                at = c;
            }
            for (i, (so_far, r)) in streamed(&chunks, &widths, &t).into_iter().enumerate() {
                let w = widths[i % widths.len()];
                let whole = render(&so_far, w, &t);
                proptest::prop_assert_eq!(&r, &whole, "after {:?} at width {}", so_far, w);
            }
        }
    }

    #[test]
    fn finished_blocks_are_parsed_once() {
        let t = Theme::default_dark();
        let mut g = Growing::default();
        let mut out = Rendered::default();
        let mut text = String::from("# Title\n\n```rust\nfn a() {}\n```\n\n");
        g.render_into(&text, 40, &t, &mut out, 0);
        text.push_str("Then some words\n");
        g.render_into(&text, 40, &t, &mut out, 0);
        // The heading and the code block are finished (a complete line of a new block
        // follows a blank line): later text parses only from the paragraph on.
        assert_eq!(g.split, "# Title\n\n```rust\nfn a() {}\n```\n\n".len());
        assert_eq!(out, render(&text, 40, &t));
        assert_eq!(g.passes(), 2);
        // A resize wraps again without parsing.
        g.render_into(&text, 20, &t, &mut out, 0);
        assert_eq!(g.passes(), 2);
        assert_eq!(out, render(&text, 20, &t));
        // A link reference defined later can change a link before it: parsed whole.
        text.insert_str(0, "[a][r] ");
        g.reset();
        g.render_into(&text, 40, &t, &mut out, 0);
        text.push_str("\n\n[r]: http://x\n");
        g.render_into(&text, 40, &t, &mut out, 0);
        assert!(g.whole);
        assert_eq!(out, render(&text, 40, &t));
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
