//! Saved conversations of the TUI: sessions and their messages, each message saved as it
//! completes, listed, loaded back, and exported as a Markdown transcript.

use crate::model::{Millis, ModelRef, Usage, now_ms};
use crate::store::db::{Db, DbError};
use rusqlite::OptionalExtension;
use serde::Serialize;
use std::fmt::Write as _;

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The system prompt.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The lowercase name stored and sent to providers.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    fn parse(s: &str) -> Role {
        match s {
            "system" => Role::System,
            "assistant" => Role::Assistant,
            _ => Role::User,
        }
    }

    fn heading(self) -> &'static str {
        match self {
            Role::System => "System",
            Role::User => "User",
            Role::Assistant => "Assistant",
        }
    }
}

/// A saved conversation, as the session list shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionRow {
    /// Its id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// When it was created (ms since the epoch).
    pub created_ms: Millis,
    /// When a message was last added (ms since the epoch).
    pub updated_ms: Millis,
    /// How many messages it holds.
    pub messages: u64,
}

/// One saved message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageRow {
    /// Its id (increasing in the order messages were saved).
    pub id: i64,
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: String,
    /// The model that wrote it (assistant messages).
    pub model: Option<ModelRef>,
    /// The tokens the provider reported for it (assistant messages).
    pub usage: Option<Usage>,
    /// When it was saved (ms since the epoch).
    pub created_ms: Millis,
}

/// Creates an empty session and returns its id.
pub fn create_session(db: &Db, title: &str) -> Result<i64, DbError> {
    let now = now_ms() as i64;
    db.write(|tx| {
        tx.execute(
            "INSERT INTO sessions (title, created_ms, updated_ms) VALUES (?1, ?2, ?2)",
            rusqlite::params![title, now],
        )?;
        Ok(tx.last_insert_rowid())
    })
}

/// Saves one completed message at the end of `session` and returns its id.
pub fn append_message(
    db: &Db,
    session: i64,
    role: Role,
    content: &str,
    model: Option<&ModelRef>,
    usage: Option<Usage>,
) -> Result<i64, DbError> {
    let now = now_ms() as i64;
    let model = model.map(|m| m.to_string());
    let id = db.write(|tx| {
        let touched = tx.execute(
            "UPDATE sessions SET updated_ms = max(updated_ms, ?2) WHERE id = ?1",
            rusqlite::params![session, now],
        )?;
        if touched == 0 {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO messages (session_id, role, content, model, prompt_tokens,
                                   completion_tokens, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                session,
                role.as_str(),
                content,
                model,
                usage.map(|u| u.prompt_tokens as i64),
                usage.map(|u| u.completion_tokens as i64),
                now,
            ],
        )?;
        Ok(Some(tx.last_insert_rowid()))
    })?;
    id.ok_or_else(|| no_session(db, session))
}

/// Appends `more` to the session's newest assistant message (a cut answer continued), adding
/// `usage`'s completion tokens to its own; with no assistant message yet it is saved as a new
/// one. Returns the message's id.
pub fn extend_last_answer(
    db: &Db,
    session: i64,
    more: &str,
    model: Option<&ModelRef>,
    usage: Option<Usage>,
) -> Result<i64, DbError> {
    let now = now_ms() as i64;
    let last = db.write(|tx| {
        let last: Option<i64> = tx
            .query_row(
                "SELECT max(id) FROM messages WHERE session_id = ?1 AND role = 'assistant'",
                rusqlite::params![session],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        if let Some(id) = last {
            tx.execute(
                "UPDATE messages SET content = content || ?2,
                     completion_tokens = coalesce(completion_tokens, 0) + coalesce(?3, 0)
                 WHERE id = ?1",
                rusqlite::params![id, more, usage.map(|u| u.completion_tokens as i64)],
            )?;
            tx.execute(
                "UPDATE sessions SET updated_ms = max(updated_ms, ?2) WHERE id = ?1",
                rusqlite::params![session, now],
            )?;
        }
        Ok(last)
    })?;
    match last {
        Some(id) => Ok(id),
        None => append_message(db, session, Role::Assistant, more, model, usage),
    }
}

/// Renames a session.
pub fn rename_session(db: &Db, session: i64, title: &str) -> Result<(), DbError> {
    let n = db.write(|tx| {
        tx.execute(
            "UPDATE sessions SET title = ?2 WHERE id = ?1",
            rusqlite::params![session, title],
        )
    })?;
    if n == 0 {
        return Err(no_session(db, session));
    }
    Ok(())
}

/// Deletes a session and its messages.
pub fn delete_session(db: &Db, session: i64) -> Result<(), DbError> {
    let n = db.write(|tx| {
        tx.execute("DELETE FROM messages WHERE session_id = ?1", [session])?;
        tx.execute("DELETE FROM sessions WHERE id = ?1", [session])
    })?;
    if n == 0 {
        return Err(no_session(db, session));
    }
    Ok(())
}

/// Every session, most recently updated first.
pub fn list_sessions(db: &Db) -> Result<Vec<SessionRow>, DbError> {
    db.read(|c| {
        let mut st = c.prepare(
            "SELECT s.id, s.title, s.created_ms, s.updated_ms,
                    (SELECT count(*) FROM messages m WHERE m.session_id = s.id)
             FROM sessions s ORDER BY s.updated_ms DESC, s.id DESC",
        )?;
        let rows = st.query_map([], |r| {
            Ok(SessionRow {
                id: r.get(0)?,
                title: r.get(1)?,
                created_ms: r.get::<_, i64>(2)?.max(0) as Millis,
                updated_ms: r.get::<_, i64>(3)?.max(0) as Millis,
                messages: r.get::<_, i64>(4)?.max(0) as u64,
            })
        })?;
        rows.collect()
    })
}

/// One session's header.
pub fn session(db: &Db, session: i64) -> Result<SessionRow, DbError> {
    let row = db.read(|c| {
        c.query_row(
            "SELECT s.id, s.title, s.created_ms, s.updated_ms,
                    (SELECT count(*) FROM messages m WHERE m.session_id = s.id)
             FROM sessions s WHERE s.id = ?1",
            [session],
            |r| {
                Ok(SessionRow {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    created_ms: r.get::<_, i64>(2)?.max(0) as Millis,
                    updated_ms: r.get::<_, i64>(3)?.max(0) as Millis,
                    messages: r.get::<_, i64>(4)?.max(0) as u64,
                })
            },
        )
        .optional()
    })?;
    row.ok_or_else(|| no_session(db, session))
}

/// The messages of a session in the order they were saved.
pub fn load_session(db: &Db, session: i64) -> Result<Vec<MessageRow>, DbError> {
    self::session(db, session)?;
    db.read(|c| {
        let mut st = c.prepare(
            "SELECT id, role, content, model, prompt_tokens, completion_tokens, created_ms
             FROM messages WHERE session_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([session], |r| {
            let role: String = r.get(1)?;
            let model: Option<String> = r.get(3)?;
            let prompt: Option<i64> = r.get(4)?;
            let completion: Option<i64> = r.get(5)?;
            Ok(MessageRow {
                id: r.get(0)?,
                role: Role::parse(&role),
                content: r.get(2)?,
                model: model.and_then(|m| m.parse().ok()),
                usage: match (prompt, completion) {
                    (None, None) => None,
                    (p, c) => Some(Usage {
                        prompt_tokens: p.unwrap_or(0).max(0) as u64,
                        completion_tokens: c.unwrap_or(0).max(0) as u64,
                    }),
                },
                created_ms: r.get::<_, i64>(6)?.max(0) as Millis,
            })
        })?;
        rows.collect()
    })
}

/// A readable Markdown transcript: the title, then one `##` heading per message naming
/// the role and, for answers, the model and tokens.
pub fn export_markdown(db: &Db, session: i64) -> Result<String, DbError> {
    let head = self::session(db, session)?;
    let messages = load_session(db, session)?;
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", head.title.trim());
    let _ = writeln!(
        out,
        "_Saved rota conversation {} · started {} · {} message{}_",
        head.id,
        utc_minute(head.created_ms),
        head.messages,
        if head.messages == 1 { "" } else { "s" }
    );
    for m in &messages {
        let mut heading = m.role.heading().to_string();
        if let Some(model) = &m.model {
            let _ = write!(heading, " · {model}");
        }
        if let Some(u) = m.usage {
            let _ = write!(
                heading,
                " · {} prompt + {} completion tokens",
                u.prompt_tokens, u.completion_tokens
            );
        }
        let _ = write!(out, "\n## {heading}\n\n{}\n", m.content.trim_end());
    }
    Ok(out)
}

/// `2026-11-27 01:20 UTC`.
fn utc_minute(ms: Millis) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

fn no_session(db: &Db, session: i64) -> DbError {
    DbError::NoSession {
        path: db.path_label().to_string(),
        id: session,
    }
}
