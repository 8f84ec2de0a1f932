//! Every kind of config problem is reported with its place, a message and a hint, and all
//! of them together.

use rota::config::{ConfigError, ConfigErrors, parse};

fn no_env(_: &str) -> Option<String> {
    None
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse(text, "c.toml", &no_env) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(ConfigErrors(e)) => e,
    }
}

/// The one problem of `text`; asserts its line, column and a piece of its message.
fn one(text: &str, line: usize, col: usize, msg: &str) -> ConfigError {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    let e = e.into_iter().next().unwrap();
    assert_eq!((e.line, e.col), (line, col), "{e}");
    assert!(e.message.contains(msg), "`{}` lacks `{msg}`", e.message);
    assert!(e.hint.is_some(), "{e} has no hint");
    assert_eq!(e.file, "c.toml");
    e
}

#[test]
fn syntax_error_has_a_place() {
    let e = errors("[defaults]\ntask = \n");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].line, 2);
    assert!(e[0].message.contains("not valid TOML"), "{}", e[0]);
}

#[test]
fn unknown_keys_list_the_valid_ones() {
    let e = one(
        "[defaults]\ntaks = \"fast\"\n",
        2,
        1,
        "unknown key `taks` in [defaults]",
    );
    assert!(e.hint.unwrap().contains("task, max_attempts"));
    one(
        "colour = 1\n",
        1,
        1,
        "unknown key `colour` at the top level",
    );
    let e = one(
        "[providers.groq]\nkey = \"gsk_test_0001\"\n",
        2,
        1,
        "unknown key `key` in [providers.groq]",
    );
    assert!(!e.to_string().contains("gsk_test_0001"));
    one(
        "[providers.mistral]\n",
        1,
        12,
        "unknown key `mistral` in [providers]",
    );
    one(
        "[[models]]\nprovider = \"groq\"\nid = \"openai/gpt-oss-20b\"\nrpmm = 3\n",
        4,
        1,
        "unknown key `rpmm`",
    );
}

#[test]
fn wrong_types() {
    one(
        "[defaults]\nmax_attempts = \"3\"\n",
        2,
        16,
        "must be a whole number, not a string",
    );
    one(
        "[providers.groq]\nenabled = \"yes\"\n",
        2,
        11,
        "must be true or false",
    );
    one(
        "[ui]\ntheme = 3\n",
        2,
        9,
        "must be a string, not an integer",
    );
    one("defaults = 3\n", 1, 12, "must be a table");
}

#[test]
fn bad_durations() {
    let e = one(
        "[defaults]\nmax_wait = \"2 minutes\"\n",
        2,
        12,
        "is not a duration",
    );
    assert!(e.hint.unwrap().contains("max_wait = \"120s\""));
    one(
        "[defaults]\nidle_timeout = \"0s\"\n",
        2,
        16,
        "longer than 0s",
    );
}

#[test]
fn bad_urls() {
    one(
        "[providers.openai]\nbase_url = \"api.openai.com/v1\"\n",
        2,
        12,
        "is not an http(s) URL",
    );
    one(
        "[providers.openai]\nbase_url = \"https://h:99999/v1\"\n",
        2,
        12,
        "invalid port",
    );
}

#[test]
fn custom_provider_names() {
    let e = errors(concat!(
        "[[providers.custom]]\nname = \"Local Box\"\nbase_url = \"http://127.0.0.1:8000/v1\"\n",
        "[[providers.custom]]\nname = \"lab\"\nbase_url = \"http://127.0.0.1:8001/v1\"\n",
        "[[providers.custom]]\nname = \"lab\"\nbase_url = \"http://127.0.0.1:8002/v1\"\n",
    ));
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!((e[0].line, e[0].col), (2, 8));
    assert!(e[0].message.contains("may hold only a-z, 0-9 and -"));
    assert!(e[0].hint.as_deref().unwrap().contains("local-box"));
    assert_eq!((e[1].line, e[1].col), (8, 8));
    assert!(e[1].message.contains("`lab` is defined twice"));
}

#[test]
fn custom_provider_needs_base_url_and_unique_model_ids() {
    let e = errors(concat!(
        "[[providers.custom]]\nname = \"x\"\n",
        "[[providers.custom.models]]\nid = \"m\"\n",
        "[[providers.custom.models]]\nid = \"m\"\n",
    ));
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].message.contains("has no `base_url`"));
    assert_eq!(e[0].line, 1);
    assert!(e[1].message.contains("defined twice"));
    assert_eq!(e[1].line, 6);
}

#[test]
fn pools_checked() {
    one(
        "[pools]\nfast = [\"groq/nope\"]\n",
        2,
        9,
        "not a known model",
    );
    one(
        "[pools]\nfast = [\"groq/openai/gpt-oss-20b\", \"groq/openai/gpt-oss-20b\"]\n",
        2,
        36,
        "lists `groq/openai/gpt-oss-20b` twice",
    );
    one(
        "[pools]\nquick = []\n",
        2,
        1,
        "`quick` in [pools] is not a task",
    );
    one("[pools]\nauto = []\n", 2, 1, "has no pool");
    one(
        "[pools]\nfast = [\"nomodel\"]\n",
        2,
        9,
        "not a model reference",
    );
}

#[test]
fn limits_must_be_positive() {
    one(
        "[[models]]\nprovider = \"groq\"\nid = \"openai/gpt-oss-20b\"\ntpm = 0\n",
        4,
        7,
        "must be greater than 0, not 0",
    );
    one(
        "[[providers.custom]]\nname = \"x\"\nbase_url = \"http://127.0.0.1:1/v1\"\n[[providers.custom.models]]\nid = \"m\"\nrpm = -5\n",
        6,
        7,
        "must be greater than 0, not -5",
    );
    one(
        "[transcription]\nmax_file_mb = 0\n",
        2,
        15,
        "greater than 0",
    );
}

#[test]
fn safety_margin_and_max_attempts() {
    one(
        "[defaults]\nsafety_margin = 1.0\n",
        2,
        17,
        "at least 0 and below 1",
    );
    one(
        "[defaults]\nsafety_margin = -0.1\n",
        2,
        17,
        "at least 0 and below 1",
    );
    one("[defaults]\nmax_attempts = 0\n", 2, 16, "at least 1");
}

#[test]
fn keys_over_plain_http_to_another_host() {
    let e = one(
        "[providers.groq]\nbase_url = \"http://10.1.2.3/v1\"\nkeys = [\"gsk_test_0001\"]\n",
        2,
        12,
        "sent over plain http to `10.1.2.3`",
    );
    assert!(e.hint.unwrap().contains("https"));
    // Loopback and keyless are fine.
    parse(
        "[providers.groq]\nbase_url = \"http://127.0.0.7:9/v1\"\nkeys = [\"gsk_test_0001\"]\n",
        "c",
        &no_env,
    )
    .unwrap();
    parse(
        "[providers.groq]\nbase_url = \"http://[::1]:9/v1\"\nkeys = [\"gsk_test_0001\"]\n",
        "c",
        &no_env,
    )
    .unwrap();
    parse(
        "[[providers.custom]]\nname = \"lan\"\nbase_url = \"http://10.0.0.5/v1\"\n",
        "c",
        &no_env,
    )
    .unwrap();
    one(
        "[[providers.custom]]\nname = \"lan\"\nbase_url = \"http://10.0.0.5/v1\"\nkeys = [\"k_test_0001\"]\n",
        3,
        12,
        "plain http",
    );
}

#[test]
fn task_names() {
    one(
        "[defaults]\ntask = \"quick\"\n",
        2,
        8,
        "unknown task `quick`",
    );
    one(
        "[[models]]\nprovider = \"groq\"\nid = \"openai/gpt-oss-20b\"\ntasks = [\"fast\", \"chat\"]\n",
        4,
        18,
        "`chat` in `tasks`",
    );
}

#[test]
fn other_values() {
    one(
        "[state]\nbackend = \"postgres\"\n",
        2,
        11,
        "local, memory or redis",
    );
    one("[state]\nredis_url = \"http://x\"\n", 2, 13, "redis://");
    one("[state]\nledger_days = 0\n", 2, 15, "greater than 0");
    one(
        "[state]\nledger_days = 213503982336\n",
        2,
        15,
        "at most 36500",
    );
    one(
        "[transcription]\norder = [\"groq\", \"whisperer\"]\n",
        2,
        18,
        "not a provider",
    );
    one(
        "[[models]]\nprovider = \"mistral\"\nid = \"x\"\n",
        2,
        12,
        "not a built-in provider",
    );
    one("[[models]]\nprovider = \"groq\"\n", 1, 1, "has no `id`");
}

#[test]
fn key_problems_never_show_the_key() {
    let text = "[providers.groq]\nkeys = [\"gsk_test_secret 0001\", \"\", 7, { key = \"gsk_test_other_9999\", acount = \"x\" }]\n";
    let e = errors(text);
    let all = ConfigErrors(e.clone()).to_string();
    assert!(!all.contains("gsk_test"), "{all}");
    assert_eq!(e.len(), 4, "{all}");
    assert!(e[0].message.contains("…0001") && e[0].message.contains("white space"));
    assert_eq!((e[0].line, e[0].col), (2, 9));
    assert!(e[1].message.contains("empty key"));
    assert!(e[2].message.contains("string or { key, account }"));
    assert!(e[3].message.contains("unknown key `acount`"));
}

#[test]
fn every_problem_is_reported_together() {
    let text = "\
[defaults]
task = \"quick\"
max_attempts = 0
safety_margin = 2
max_wait = \"soon\"

[providers.groq]
base_url = \"http://example.com/v1\"
keys = [\"gsk_test_0001\"]
colour = \"red\"

[pools]
fast = [\"groq/missing\"]
";
    let e = errors(text);
    let lines: Vec<usize> = e.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 8, 10, 13], "{e:#?}");
    let shown = ConfigErrors(e).to_string();
    assert!(shown.starts_with("c.toml:2:8: "), "{shown}");
    assert!(shown.lines().filter(|l| l.starts_with("c.toml:")).count() == 7);
    assert!(shown.contains("\n  hint: "));
}

#[test]
fn environment_problems_name_the_variable() {
    let env = |k: &str| match k {
        "OPENAI_BASE_URL" => Some("not a url".to_string()),
        "GROQ_BASE_URL" => Some("http://192.168.1.9/v1".to_string()),
        "GROQ_API_KEY" => Some("gsk_test_0001".to_string()),
        "TAVILY_BASE_URL" => Some("http://search.example".to_string()),
        _ => None,
    };
    let Err(ConfigErrors(e)) = parse("", "c.toml", &env) else {
        panic!()
    };
    assert_eq!(e.len(), 3, "{e:#?}");
    let shown = ConfigErrors(e).to_string();
    assert!(
        shown.contains("$GROQ_BASE_URL: keys of `groq` would be sent over plain http"),
        "{shown}"
    );
    assert!(
        shown.contains("$OPENAI_BASE_URL: `not a url` is not an http(s) URL"),
        "{shown}"
    );
    assert!(
        shown.contains("$TAVILY_BASE_URL: $TAVILY_BASE_URL must be an https URL"),
        "{shown}"
    );
    assert!(!shown.contains("c.toml:1:1"), "{shown}");
    assert!(!shown.contains("gsk_test_0001"));
}
