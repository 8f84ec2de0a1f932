//! `rota sim`: serve the simulated fleet until Ctrl+C.

use super::CliError;
use crate::sim::{Scenario, start};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

/// Runs `rota sim [--listen ADDR] [--scenario FILE]`.
pub fn run(listen: Option<&str>, scenario: Option<&Path>) -> Result<i32, CliError> {
    let addr: SocketAddr = match listen {
        None => SocketAddr::from(([127, 0, 0, 1], 0)),
        Some(text) => parse_addr(text)?,
    };
    let scenario = match scenario {
        Some(path) => Scenario::from_file(path).map_err(|e| {
            CliError::usage(e.to_string()).hint("the scenario format is described in docs/sim.md")
        })?,
        None => Scenario::default_fleet(),
    };
    let rt = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::failed(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        let handle = start(scenario, addr)
            .await
            .map_err(|e| CliError::usage(e.to_string()))?;
        let mut out = std::io::stdout().lock();
        for line in handle.announce() {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
        drop(out);
        eprintln!(
            "rota sim: counters at http://{}/sim/stats; Ctrl+C stops",
            handle.addr
        );
        let interrupted = tokio::signal::ctrl_c().await.is_ok();
        handle.shutdown().await;
        Ok(if interrupted {
            super::exit::INTERRUPTED
        } else {
            super::exit::OK
        })
    })
}

/// `127.0.0.1:8080`, `:8080` or `8080` (loopback).
pub(crate) fn parse_addr(text: &str) -> Result<SocketAddr, CliError> {
    let t = text.trim();
    let bad = || {
        CliError::usage(format!("`{text}` is not an address to listen on"))
            .hint("write HOST:PORT, e.g. --listen 127.0.0.1:8080, or just a port")
    };
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    let port = t.strip_prefix(':').unwrap_or(t);
    port.parse::<u16>()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_addr("8080").unwrap().port(), 8080);
        assert_eq!(parse_addr(":9").unwrap().to_string(), "127.0.0.1:9");
        assert_eq!(
            parse_addr("127.0.0.1:7").unwrap().to_string(),
            "127.0.0.1:7"
        );
        assert!(parse_addr("nowhere").is_err());
    }
}
