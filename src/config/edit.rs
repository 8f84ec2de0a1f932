//! Editing the config file's keys in place (toml_edit keeps comments and layout), for
//! `rota keys add/remove` and the TUI's keys view. The functions take and return text; the
//! caller reads and writes the file under the edit lock ([`super::file::lock`]), and
//! [`write_private`] writes it with mode 0600 (through a symlink to the file it names).

pub use super::file::{set_private, write_private};
use crate::secret::ApiKey;
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, Value};

/// Why a key could not be added or removed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EditError {
    /// What went wrong.
    pub message: String,
    /// What to do next.
    pub hint: Option<String>,
}

impl EditError {
    fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

/// Checks a pasted key: trimmed, not empty, no white space inside.
pub fn check_new_key(text: &str) -> Result<ApiKey, EditError> {
    let key = ApiKey::new(text);
    if key.expose().is_empty() {
        return Err(EditError::new(
            "no key given",
            "pipe exactly one key to stdin, e.g. `pbpaste | rota keys add groq`",
        ));
    }
    if key.expose().chars().any(char::is_whitespace) {
        return Err(EditError::new(
            "the key has white space inside (or more than one key was given)",
            "give exactly one key on stdin",
        ));
    }
    Ok(key)
}

fn parse_doc(text: &str) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>().map_err(|e| {
        EditError::new(
            format!("the config file is not valid TOML: {}", e.message().trim()),
            "fix it first (`rota config check` shows where)",
        )
    })
}

/// The `keys` array of `provider` (`groq`, `custom:NAME`), creating `[providers.NAME]` and
/// `keys = []` for built-in providers when missing.
fn keys_array<'d>(
    doc: &'d mut DocumentMut,
    provider: &str,
    create: bool,
) -> Result<Option<&'d mut Array>, EditError> {
    let no_providers = || {
        EditError::new(
            "[providers] in the config file is not a table",
            "fix it first (`rota config check` shows where)",
        )
    };
    let table = if let Some(name) = provider.strip_prefix("custom:") {
        let Some(customs) = doc
            .get_mut("providers")
            .and_then(|p| p.as_table_like_mut())
            .and_then(|p| p.get_mut("custom"))
            .and_then(Item::as_array_of_tables_mut)
        else {
            return Err(no_custom(name));
        };
        let Some(t) = customs
            .iter_mut()
            .find(|t| t.get("name").and_then(Item::as_str) == Some(name))
        else {
            return Err(no_custom(name));
        };
        t as &mut dyn toml_edit::TableLike
    } else if super::BUILTIN_PROVIDERS.iter().any(|(n, _)| *n == provider) {
        if !create && doc.get("providers").and_then(|p| p.get(provider)).is_none() {
            return Ok(None);
        }
        let providers = doc.entry("providers").or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        let providers = providers.as_table_like_mut().ok_or_else(no_providers)?;
        let entry = providers
            .entry(provider)
            .or_insert(Item::Table(Table::new()));
        entry.as_table_like_mut().ok_or_else(|| {
            EditError::new(
                format!("[providers.{provider}] is not a table"),
                "fix it first (`rota config check` shows where)",
            )
        })?
    } else {
        return Err(EditError::new(
            format!("`{provider}` is not a provider"),
            "use groq, openai, together, or custom:NAME of a [[providers.custom]] in the config file",
        ));
    };
    if !table.contains_key("keys") {
        if !create {
            return Ok(None);
        }
        table.insert("keys", Item::Value(Value::Array(Array::new())));
    }
    match table.get_mut("keys").and_then(Item::as_array_mut) {
        Some(a) => Ok(Some(a)),
        None => Err(EditError::new(
            format!("`keys` of {provider} is not an array"),
            "fix it first (`rota config check` shows where)",
        )),
    }
}

fn no_custom(name: &str) -> EditError {
    EditError::new(
        format!("no [[providers.custom]] named `{name}` in the config file"),
        format!("add one first: [[providers.custom]] name = \"{name}\" base_url = \"…\""),
    )
}

fn key_of(v: &Value) -> Option<&str> {
    v.as_str().or_else(|| {
        v.as_inline_table()
            .and_then(|t| t.get("key"))
            .and_then(Value::as_str)
    })
}

/// Adds `key` (with `account`, if given) to `provider`'s keys in the config text and returns
/// the new text. Comments and layout stay. An empty text makes a new file.
pub fn add_key(
    doc_text: &str,
    provider: &str,
    key: &ApiKey,
    account: Option<&str>,
) -> Result<String, EditError> {
    if let Some(a) = account
        && (a.trim().is_empty() || a.trim() != a)
    {
        return Err(EditError::new(
            "the account name is empty or padded with spaces",
            "write e.g. --account team-b",
        ));
    }
    let mut doc = parse_doc(doc_text)?;
    let Some(arr) = keys_array(&mut doc, provider, true)? else {
        return Err(EditError::new(
            format!("cannot add keys to {provider}"),
            "check the config file",
        ));
    };
    if arr
        .iter()
        .any(|v| key_of(v).map(str::trim) == Some(key.expose()))
    {
        return Err(EditError::new(
            format!(
                "key {} is already in the config file for {provider}",
                key.masked()
            ),
            "nothing to do; `rota keys list` shows every key",
        ));
    }
    let value = match account {
        None => Value::from(key.expose()),
        Some(a) => {
            let mut t = InlineTable::new();
            t.insert("key", Value::from(key.expose()));
            t.insert("account", Value::from(a));
            Value::InlineTable(t)
        }
    };
    arr.push(value);
    Ok(doc.to_string())
}

/// Removes the one key of `provider` ending in `suffix` and returns the new text and the
/// removed key's masked form. None matching, or several, is an error.
pub fn remove_key(
    doc_text: &str,
    provider: &str,
    suffix: &str,
) -> Result<(String, String), EditError> {
    let suffix = suffix.trim().trim_start_matches('…');
    if suffix.is_empty() {
        return Err(EditError::new(
            "no suffix given",
            "give the last characters of the key, as `rota keys list` shows them",
        ));
    }
    let mut doc = parse_doc(doc_text)?;
    let none = || {
        EditError::new(
            format!("no key of {provider} in the config file ends in `{suffix}`"),
            "`rota keys list` shows every key; keys from the environment are removed by unsetting the variable",
        )
    };
    let Some(arr) = keys_array(&mut doc, provider, false)? else {
        return Err(none());
    };
    let hits: Vec<usize> = arr
        .iter()
        .enumerate()
        .filter(|(_, v)| key_of(v).is_some_and(|k| k.trim().ends_with(suffix)))
        .map(|(i, _)| i)
        .collect();
    match hits.as_slice() {
        [] => Err(none()),
        [i] => {
            let masked = key_of(arr.get(*i).unwrap_or(&Value::from("")))
                .map(|k| ApiKey::new(k).masked())
                .unwrap_or_default();
            arr.remove(*i);
            Ok((doc.to_string(), masked))
        }
        _ => Err(EditError::new(
            format!("{} keys of {provider} end in `{suffix}`", hits.len()),
            "give more of the key's last characters",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_to_empty_and_remove() {
        let k = ApiKey::new("gsk_test_0001");
        let t = add_key("", "groq", &k, None).unwrap();
        assert!(t.contains("[providers.groq]"), "{t}");
        let t = add_key(&t, "groq", &ApiKey::new("gsk_test_0002"), Some("team-b")).unwrap();
        assert!(t.contains("account = \"team-b\""));
        assert!(add_key(&t, "groq", &k, None).is_err());
        let (t, masked) = remove_key(&t, "groq", "0001").unwrap();
        assert_eq!(masked, "…0001");
        assert!(!t.contains("gsk_test_0001"));
        assert!(remove_key(&t, "groq", "0001").is_err());
        assert!(add_key(&t, "nope", &k, None).is_err());
        assert!(add_key(&t, "custom:x", &k, None).is_err());
    }

    #[test]
    fn custom_providers_dotted_keys_and_comments() {
        let text = "# top\n[[providers.custom]] # the box\nname = \"local\"\nbase_url = \"http://127.0.0.1:8000/v1\"\n";
        let k = ApiKey::new("loc_test_0001");
        let t = add_key(text, "custom:local", &k, None).unwrap();
        assert!(
            t.starts_with("# top\n[[providers.custom]] # the box\n"),
            "{t}"
        );
        assert!(t.contains("keys = [\"loc_test_0001\"]"), "{t}");
        let c = crate::config::parse(&t, "t", &|_| None).unwrap();
        assert_eq!(
            c.provider("custom:local").unwrap().keys[0].masked(),
            "…0001"
        );
        assert!(add_key(text, "custom:other", &k, None).is_err());

        let dotted = "providers.groq.keys = [\"gsk_test_0001\"] # mine\n";
        let t = add_key(dotted, "groq", &ApiKey::new("gsk_test_0002"), None).unwrap();
        assert!(t.contains("# mine"), "{t}");
        let c = crate::config::parse(&t, "t", &|_| None).unwrap();
        assert_eq!(c.provider("groq").unwrap().keys.len(), 2);
        let (t, _) = remove_key(&t, "groq", "…0001").unwrap();
        let c = crate::config::parse(&t, "t", &|_| None).unwrap();
        assert_eq!(c.provider("groq").unwrap().keys[0].masked(), "…0002");
    }

    #[test]
    fn broken_files_are_not_edited() {
        let k = ApiKey::new("gsk_test_0001");
        let e = add_key("[providers\n", "groq", &k, None).unwrap_err();
        assert!(e.message.contains("not valid TOML"));
        assert!(add_key("providers = 3\n", "groq", &k, None).is_err());
        assert!(add_key("[providers.groq]\nkeys = \"x\"\n", "groq", &k, None).is_err());
        assert!(add_key("", "groq", &k, Some(" ")).is_err());
    }

    #[test]
    fn check_new_key_rejects_bad_input() {
        assert!(check_new_key("  \n").is_err());
        assert!(check_new_key("a b").is_err());
        assert_eq!(
            check_new_key(" gsk_test_0001\n").unwrap().expose(),
            "gsk_test_0001"
        );
    }
}
