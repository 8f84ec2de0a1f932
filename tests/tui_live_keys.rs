//! Keys added or removed in the TUI's keys view take effect at once: the next request can
//! use the new key, and a removed one is no longer called (the real `RouterBackend` over the
//! in-process simulated fleet and a temporary config file).

use rota::cli::demo::Demo;
use rota::cli::tui_backend::{KeysFile, RouterBackend};
use rota::router::events::Event;
use rota::router::{ChatRequest, Router};
use rota::store::MemoryStore;
use rota::tui::ChatBackend;
use std::sync::Arc;
use tokio::runtime::Handle;

/// Asks once; the provider that answered, or the error kind.
async fn ask(backend: &RouterBackend) -> Result<String, String> {
    let req = ChatRequest {
        messages: vec![rota::message::Message::user("hello")],
        ..Default::default()
    };
    let mut rx = backend.ask(req);
    let mut end = Err("no end".to_string());
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Done { provider, .. } => end = Ok(provider),
            Event::Error { kind, .. } => end = Err(kind),
            _ => {}
        }
    }
    end
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_added_in_the_tui_is_used_by_the_next_request_and_a_removed_one_is_not() {
    let demo = Demo::start().await.unwrap();
    let openai_key = demo.config.provider("openai").unwrap().keys[0]
        .key
        .clone()
        .unwrap();
    // The demo fleet's config without any key.
    let mut config = demo.config.clone();
    for p in &mut config.providers {
        p.keys.clear();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "# my rota config\n").unwrap();
    let router = Arc::new(Router::new(config, Arc::new(MemoryStore::default())));
    let backend = RouterBackend::new(
        router,
        None,
        KeysFile::Path(file.clone()),
        Handle::current(),
    );

    assert_eq!(ask(&backend).await, Err("no_credentials".to_string()));

    backend.add_key("openai", openai_key.clone(), None).unwrap();
    assert_eq!(ask(&backend).await, Ok("openai".to_string()));
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains("# my rota config"),
        "the comment is kept: {written}"
    );
    assert!(written.contains("[providers.openai]"), "{written}");

    let suffix = openai_key.masked().trim_start_matches('…').to_string();
    backend.remove_key("openai", &suffix).unwrap();
    assert_eq!(ask(&backend).await, Err("no_credentials".to_string()));
    assert!(backend.keys().iter().all(|k| k.provider != "openai"));
}
