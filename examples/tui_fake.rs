//! The chat TUI against the scripted FakeBackend: `cargo run --example tui_fake`.
//! For developing the UI without the router; every prompt gets the same answer.

use rota::tui::{FakeBackend, TuiOptions, run};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let backend = Arc::new(FakeBackend::new().with_delay(Duration::from_millis(60)));
    let theme = std::env::var("ROTA_THEME").unwrap_or_else(|_| "default".into());
    let opts = TuiOptions {
        theme,
        ..TuiOptions::default()
    };
    if let Err(e) = run(backend, opts).await {
        eprintln!("rota: error: {e}");
        std::process::exit(1);
    }
}
