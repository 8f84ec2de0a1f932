//! Typed reading of a parsed TOML tree (toml_edit keeps every span): each getter reports a
//! wrong type or value to the [`Sink`] with its place and a hint, and returns `None` so the
//! walk goes on and every problem is found in one pass.

use super::error::Sink;
use std::ops::Range;
use std::time::Duration;
use toml_edit::{Item, TableLike, Value};

/// A table being read, with the name used in messages (`[providers.groq]`).
pub(crate) struct Section<'t> {
    /// The table.
    pub table: &'t dyn TableLike,
    /// `defaults`, `providers.groq`, `providers.custom[2]`, …
    pub name: String,
    /// Where the table starts (for "missing key" problems).
    pub span: Option<Range<usize>>,
}

/// An article-prefixed type name for messages: `a string`, `an integer`.
pub(crate) fn a_type(item: &Item) -> String {
    let name = item.type_name();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

impl<'t> Section<'t> {
    /// A section over `table`.
    pub fn new(
        table: &'t dyn TableLike,
        name: impl Into<String>,
        span: Option<Range<usize>>,
    ) -> Self {
        Self {
            table,
            name: name.into(),
            span,
        }
    }

    /// Reports every key not in `allowed`, listing the valid ones.
    pub fn only(&self, sink: &mut Sink, allowed: &[&str]) {
        for (k, _) in self.table.iter() {
            if !allowed.contains(&k) {
                sink.at(
                    self.key_span(k),
                    format!("unknown key `{k}` {}", self.place()),
                    format!("valid keys here: {}", allowed.join(", ")),
                );
            }
        }
    }

    /// `in [name]`, or `at the top level` for the root.
    pub fn place(&self) -> String {
        if self.name.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in [{}]", self.name)
        }
    }

    /// The item under `key`, if present.
    pub fn item(&self, key: &str) -> Option<&'t Item> {
        self.table.get(key).filter(|i| !i.is_none())
    }

    /// Where `key` is written.
    pub fn key_span(&self, key: &str) -> Option<Range<usize>> {
        self.table
            .get_key_value(key)
            .and_then(|(k, _)| k.span())
            .or_else(|| self.span.clone())
    }

    /// Where the value of `key` is written (the key when the value has no span).
    pub fn span(&self, key: &str) -> Option<Range<usize>> {
        self.item(key)
            .and_then(Item::span)
            .or_else(|| self.key_span(key))
    }

    fn wrong(&self, sink: &mut Sink, key: &str, want: &str, example: &str) {
        let got = self.item(key).map(a_type).unwrap_or_default();
        sink.at(
            self.span(key),
            format!("`{key}` in [{}] must be {want}, not {got}", self.name),
            format!("write e.g. {key} = {example}"),
        );
    }

    /// A string value.
    pub fn str(&self, sink: &mut Sink, key: &str, example: &str) -> Option<String> {
        let item = self.item(key)?;
        match item.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.wrong(sink, key, "a string", example);
                None
            }
        }
    }

    /// A boolean value.
    pub fn bool(&self, sink: &mut Sink, key: &str) -> Option<bool> {
        let item = self.item(key)?;
        match item.as_bool() {
            Some(b) => Some(b),
            None => {
                self.wrong(sink, key, "true or false", "true");
                None
            }
        }
    }

    /// A whole number greater than zero.
    pub fn positive(&self, sink: &mut Sink, key: &str, example: &str) -> Option<u64> {
        let item = self.item(key)?;
        match item.as_integer() {
            Some(n) if n > 0 => Some(n as u64),
            Some(n) => {
                sink.at(
                    self.span(key),
                    format!("`{key}` in [{}] must be greater than 0, not {n}", self.name),
                    format!("write e.g. {key} = {example}, or leave it out"),
                );
                None
            }
            None => {
                self.wrong(sink, key, "a whole number", example);
                None
            }
        }
    }

    /// A whole number ≥ 0.
    pub fn non_negative(&self, sink: &mut Sink, key: &str, example: &str) -> Option<u64> {
        let item = self.item(key)?;
        match item.as_integer() {
            Some(n) if n >= 0 => Some(n as u64),
            Some(n) => {
                sink.at(
                    self.span(key),
                    format!("`{key}` in [{}] must not be negative, not {n}", self.name),
                    format!("write e.g. {key} = {example}"),
                );
                None
            }
            None => {
                self.wrong(sink, key, "a whole number", example);
                None
            }
        }
    }

    /// A number (integer or float) ≥ 0.
    pub fn non_negative_f64(&self, sink: &mut Sink, key: &str, example: &str) -> Option<f64> {
        let item = self.item(key)?;
        let n = item
            .as_float()
            .or_else(|| item.as_integer().map(|i| i as f64));
        match n {
            Some(n) if n >= 0.0 && n.is_finite() => Some(n),
            Some(n) => {
                sink.at(
                    self.span(key),
                    format!("`{key}` in [{}] must be a number ≥ 0, not {n}", self.name),
                    format!("write e.g. {key} = {example}"),
                );
                None
            }
            None => {
                self.wrong(sink, key, "a number", example);
                None
            }
        }
    }

    /// A number (integer or float), unchecked.
    pub fn f64(&self, sink: &mut Sink, key: &str, example: &str) -> Option<f64> {
        let item = self.item(key)?;
        match item
            .as_float()
            .or_else(|| item.as_integer().map(|i| i as f64))
        {
            Some(n) => Some(n),
            None => {
                self.wrong(sink, key, "a number", example);
                None
            }
        }
    }

    /// A duration string (`"90s"`, `"2m"`, `"1h30m"`).
    pub fn duration(&self, sink: &mut Sink, key: &str, example: &str) -> Option<Duration> {
        let s = self.str(sink, key, &format!("\"{example}\""))?;
        match crate::duration::parse(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                sink.at(
                    self.span(key),
                    format!("`{key}` in [{}]: {e}", self.name),
                    format!("write e.g. {key} = \"{example}\""),
                );
                None
            }
        }
    }

    /// An array of strings, each with its span; wrong elements are reported and skipped.
    pub fn str_list(
        &self,
        sink: &mut Sink,
        key: &str,
        example: &str,
    ) -> Option<Vec<(String, Option<Range<usize>>)>> {
        let item = self.item(key)?;
        let Some(arr) = item.as_array() else {
            self.wrong(sink, key, "an array of strings", example);
            return None;
        };
        let mut out = Vec::new();
        for v in arr.iter() {
            match v.as_str() {
                Some(s) => out.push((s.to_string(), v.span())),
                None => sink.at(
                    v.span(),
                    format!(
                        "every entry of `{key}` in [{}] must be a string, not {}",
                        self.name,
                        value_type(v)
                    ),
                    format!("write e.g. {key} = {example}"),
                ),
            }
        }
        Some(out)
    }

    /// A sub-table (standard or inline) under `key`.
    pub fn table(&self, sink: &mut Sink, key: &str) -> Option<Section<'t>> {
        let item = self.item(key)?;
        match item.as_table_like() {
            Some(t) => Some(Section::new(t, self.child(key), self.span(key))),
            None => {
                sink.at(
                    self.span(key),
                    format!(
                        "`{key}` in [{}] must be a table, not {}",
                        self.name,
                        a_type(item)
                    ),
                    format!("write it as a [{}] section", self.child(key)),
                );
                None
            }
        }
    }

    /// An array of tables (`[[x]]` or an array of inline tables) under `key`.
    pub fn tables(&self, sink: &mut Sink, key: &str) -> Vec<Section<'t>> {
        let Some(item) = self.item(key) else {
            return Vec::new();
        };
        let name = self.child(key);
        if let Some(aot) = item.as_array_of_tables() {
            return aot
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    Section::new(t as &dyn TableLike, format!("{name}[{}]", i + 1), t.span())
                })
                .collect();
        }
        if let Some(arr) = item.as_array() {
            let mut out = Vec::new();
            for (i, v) in arr.iter().enumerate() {
                match v.as_inline_table() {
                    Some(t) => out.push(Section::new(
                        t as &dyn TableLike,
                        format!("{name}[{}]", i + 1),
                        v.span(),
                    )),
                    None => sink.at(
                        v.span(),
                        format!(
                            "every entry of `{key}` in [{}] must be a table, not {}",
                            self.name,
                            value_type(v)
                        ),
                        format!("write each entry as a [[{name}]] section"),
                    ),
                }
            }
            return out;
        }
        sink.at(
            self.span(key),
            format!(
                "`{key}` in [{}] must be an array of tables, not {}",
                self.name,
                a_type(item)
            ),
            format!("write each entry as a [[{name}]] section"),
        );
        Vec::new()
    }

    /// The dotted name of a child.
    pub fn child(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.name)
        }
    }
}

/// An article-prefixed type name of a value.
pub(crate) fn value_type(v: &Value) -> String {
    let name = v.type_name();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}
