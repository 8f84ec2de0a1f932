//! Keys and base URLs from the environment: `GROQ_API_KEY`, `GROQ_API_KEY_1` … (any count,
//! gaps allowed), `GROQ_BASE_URL`, the same for OPENAI and TOGETHER, and `TAVILY_API_KEY`.

use crate::secret::ApiKey;

/// The built-in providers whose keys and base URLs the environment may set.
pub const ENV_PROVIDERS: [&str; 3] = ["groq", "openai", "together"];

/// How many numbers past the last one found are still probed: `GROQ_API_KEY_1` and
/// `GROQ_API_KEY_150` are both found; a gap of more than this ends the search.
pub const MAX_GAP: usize = 100;

/// The variable prefix of a provider (`GROQ`).
pub fn prefix(provider: &str) -> String {
    provider.to_ascii_uppercase()
}

/// The keys the environment holds for `provider`, each with the variable it came from, in
/// order: `X_API_KEY`, then `X_API_KEY_1`, `_2`, … Empty values are skipped.
pub fn env_keys(provider: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, ApiKey)> {
    let base = format!("{}_API_KEY", prefix(provider));
    let mut out = Vec::new();
    let mut push = |var: String| {
        if let Some(v) = env(&var).filter(|v| !v.trim().is_empty()) {
            out.push((var, ApiKey::new(v)));
            true
        } else {
            false
        }
    };
    push(base.clone());
    let mut last = 0;
    let mut n = 1;
    while n <= last + MAX_GAP {
        if push(format!("{base}_{n}")) {
            last = n;
        }
        n += 1;
    }
    out
}

/// The base URL override for `provider` (`GROQ_BASE_URL`), with the variable's name.
pub fn env_base_url(
    provider: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, String)> {
    let var = format!("{}_BASE_URL", prefix(provider));
    env(&var).filter(|v| !v.trim().is_empty()).map(|v| (var, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn numbered_keys_with_gaps() {
        let vars: HashMap<&str, &str> = [
            ("GROQ_API_KEY", "gsk_test_0000"),
            ("GROQ_API_KEY_1", "gsk_test_0001"),
            ("GROQ_API_KEY_3", "gsk_test_0003"),
            ("GROQ_API_KEY_60", "gsk_test_0060"),
            ("GROQ_API_KEY_2", "  "),
        ]
        .into_iter()
        .collect();
        let env = |k: &str| vars.get(k).map(|s| s.to_string());
        let keys = env_keys("groq", &env);
        let names: Vec<_> = keys.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(
            names,
            [
                "GROQ_API_KEY",
                "GROQ_API_KEY_1",
                "GROQ_API_KEY_3",
                "GROQ_API_KEY_60"
            ]
        );
        assert_eq!(keys[3].1.expose(), "gsk_test_0060");
        assert!(env_keys("openai", &env).is_empty());
    }
}
