//! Saved conversations: create, append as messages complete, list, load, export.

use rota::model::{ModelRef, Usage};
use rota::store::conversations::{self as conv, Role};
use rota::store::db::{Db, DbError};

#[test]
fn sessions_round_trip_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rota.db");
    let model = ModelRef::new("groq", "llama-3.1-8b-instant");
    let usage = Usage {
        prompt_tokens: 42,
        completion_tokens: 7,
    };
    let (a, b) = {
        let db = Db::open(&path).unwrap();
        let a = conv::create_session(&db, "Rust lifetimes").unwrap();
        let b = conv::create_session(&db, "Empty one").unwrap();
        conv::append_message(&db, a, Role::System, "Be brief.", None, None).unwrap();
        conv::append_message(&db, a, Role::User, "What is 'a?", None, None).unwrap();
        conv::append_message(
            &db,
            a,
            Role::Assistant,
            "A lifetime.",
            Some(&model),
            Some(usage),
        )
        .unwrap();
        (a, b)
    };
    // A new process (a fresh open) sees everything.
    let db = Db::open(&path).unwrap();
    let list = conv::list_sessions(&db).unwrap();
    assert_eq!(list.len(), 2);
    let sa = list.iter().find(|s| s.id == a).unwrap();
    assert_eq!(sa.title, "Rust lifetimes");
    assert_eq!(sa.messages, 3);
    assert!(sa.updated_ms >= sa.created_ms);
    let sb = list.iter().find(|s| s.id == b).unwrap();
    assert_eq!(sb.messages, 0);
    // Most recently updated first: `a` got messages after `b` was created.
    assert!(list[0].updated_ms >= list[1].updated_ms);

    let msgs = conv::load_session(&db, a).unwrap();
    let roles: Vec<Role> = msgs.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::System, Role::User, Role::Assistant]);
    assert_eq!(msgs[1].content, "What is 'a?");
    assert_eq!(msgs[2].model.as_ref(), Some(&model));
    assert_eq!(msgs[2].usage, Some(usage));
    assert_eq!(msgs[0].model, None);
    assert_eq!(msgs[0].usage, None);
    assert!(conv::load_session(&db, b).unwrap().is_empty());

    conv::rename_session(&db, b, "Renamed").unwrap();
    assert_eq!(conv::session(&db, b).unwrap().title, "Renamed");
    conv::delete_session(&db, b).unwrap();
    assert_eq!(conv::list_sessions(&db).unwrap().len(), 1);
}

#[test]
fn missing_session_is_a_clear_error() {
    let db = Db::open_in_memory().unwrap();
    let e = conv::append_message(&db, 999, Role::User, "hi", None, None).unwrap_err();
    assert!(matches!(e, DbError::NoSession { id: 999, .. }), "{e:?}");
    assert!(e.to_string().contains("no saved conversation 999"), "{e}");
    assert!(conv::load_session(&db, 999).is_err());
    assert!(conv::export_markdown(&db, 999).is_err());
    assert!(conv::delete_session(&db, 999).is_err());
}

#[test]
fn markdown_export_has_a_heading_per_turn_with_model_and_tokens() {
    let db = Db::open_in_memory().unwrap();
    let s = conv::create_session(&db, "Sorting in Rust").unwrap();
    let model = ModelRef::new("openai", "gpt-4o-mini");
    conv::append_message(&db, s, Role::User, "How do I sort a Vec?", None, None).unwrap();
    conv::append_message(
        &db,
        s,
        Role::Assistant,
        "Use `v.sort()`.\n\n```rust\nv.sort();\n```\n",
        Some(&model),
        Some(Usage {
            prompt_tokens: 12,
            completion_tokens: 9,
        }),
    )
    .unwrap();
    let md = conv::export_markdown(&db, s).unwrap();
    assert!(md.starts_with("# Sorting in Rust\n"), "{md}");
    assert!(md.contains("2 messages"), "{md}");
    assert!(md.contains("\n## User\n\nHow do I sort a Vec?\n"), "{md}");
    assert!(
        md.contains(
            "\n## Assistant · openai/gpt-4o-mini · 12 prompt + 9 completion tokens\n\nUse `v.sort()`.\n\n```rust\nv.sort();\n```\n"
        ),
        "{md}"
    );
    let user_at = md.find("## User").unwrap();
    let assistant_at = md.find("## Assistant").unwrap();
    assert!(user_at < assistant_at);
}
