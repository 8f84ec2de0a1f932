//! Replays the real provider recordings in shared/fixtures/recordings through the stream
//! decoder: whole, split at every byte, split at random places, and with CRLF / CR ends.

mod shared_fixtures;

use proptest::prelude::*;
use rota::model::{Dialect, Usage};
use rota::providers::{
    Assembler, ChatOutcome, StreamDecoder, StreamEvent, ToolCall, decode_stream,
};

/// One recording: its dialect and raw SSE body.
struct Recording {
    name: String,
    dialect: Dialect,
    body: Vec<u8>,
}

fn recordings() -> Vec<Recording> {
    let dir = shared_fixtures::fixtures_dir().join("recordings");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let tags = v["metadata"]["tags"].as_array().unwrap();
        let provider = tags
            .iter()
            .filter_map(|t| t.as_str()?.strip_prefix("provider:"))
            .next()
            .unwrap();
        let dialect = match provider {
            "groq" => Dialect::Groq,
            "openai" => Dialect::OpenAi,
            "togetherai" | "together" => Dialect::Together,
            _ => Dialect::Generic,
        };
        let body = v["interactions"][0]["response"]["body"]
            .as_str()
            .unwrap()
            .as_bytes()
            .to_vec();
        out.push(Recording {
            name: path.file_stem().unwrap().to_string_lossy().into_owned(),
            dialect,
            body,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        out.len() >= 4,
        "expected the recordings in {}",
        dir.display()
    );
    out
}

/// What INDEX.md says each recording contains.
fn expected(name: &str) -> ChatOutcome {
    let call = |id: &str| ToolCall {
        id: id.into(),
        name: "get_weather".into(),
        arguments: r#"{"city":"Paris"}"#.into(),
    };
    let usage = |p, c| {
        Some(Usage {
            prompt_tokens: p,
            completion_tokens: c,
        })
    };
    match name {
        "groq-streams-text" | "togetherai-streams-text" => ChatOutcome {
            text: "Hello!".into(),
            tool_calls: vec![],
            usage: usage(45, 3),
            finish_reason: Some("stop".into()),
            ..ChatOutcome::default()
        },
        "groq-streams-tool-call" => ChatOutcome {
            text: String::new(),
            tool_calls: vec![call("mcf2d8nn1")],
            usage: usage(249, 10),
            finish_reason: Some("tool_calls".into()),
            ..ChatOutcome::default()
        },
        "togetherai-streams-tool-call" => ChatOutcome {
            text: String::new(),
            tool_calls: vec![call("call_yu1mxtmex7x48nximi9c8jpo")],
            usage: usage(194, 19),
            finish_reason: Some("tool_calls".into()),
            ..ChatOutcome::default()
        },
        other => panic!("recording {other} has no expectation here: add one from INDEX.md"),
    }
}

/// Decodes `body` fed in the given pieces; returns the events and the outcome.
fn decode_pieces(dialect: Dialect, pieces: &[&[u8]]) -> (Vec<StreamEvent>, ChatOutcome) {
    let mut dec = StreamDecoder::new(dialect);
    let mut events = Vec::new();
    for p in pieces {
        dec.feed(p, &mut events).unwrap();
    }
    dec.finish(&mut events).unwrap();
    let mut asm = Assembler::new();
    events.iter().for_each(|e| asm.push(e));
    (events, asm.finish())
}

fn with_line_ends(body: &[u8], end: &str) -> Vec<u8> {
    String::from_utf8(body.to_vec())
        .unwrap()
        .replace('\n', end)
        .into_bytes()
}

#[test]
fn every_recording_reassembles_exactly() {
    for r in recordings() {
        let got = decode_stream(r.dialect, &r.body).unwrap();
        assert_eq!(got, expected(&r.name), "{}", r.name);
        // Arguments are valid JSON, as sent.
        for c in &got.tool_calls {
            let _: serde_json::Value = serde_json::from_str(&c.arguments).unwrap();
        }
    }
}

#[test]
fn usage_and_finish_are_reported_once_even_when_repeated() {
    for r in recordings() {
        let (events, _) = decode_pieces(r.dialect, &[&r.body]);
        let usages = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Usage(_)))
            .count();
        let finishes = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Finish(_)))
            .count();
        assert_eq!((usages, finishes), (1, 1), "{}", r.name);
        // They come last, after every text and tool-call piece.
        let n = events.len();
        assert!(
            matches!(events[n - 2], StreamEvent::Finish(_)),
            "{}",
            r.name
        );
        assert!(matches!(events[n - 1], StreamEvent::Usage(_)), "{}", r.name);
    }
}

#[test]
fn every_two_way_split_gives_the_same_events() {
    for r in recordings() {
        let (whole, _) = decode_pieces(r.dialect, &[&r.body]);
        for i in 0..=r.body.len() {
            let (a, b) = r.body.split_at(i);
            let (events, _) = decode_pieces(r.dialect, &[a, b]);
            assert_eq!(events, whole, "{} split at {i}", r.name);
        }
    }
}

#[test]
fn byte_by_byte_with_crlf_and_cr_line_ends() {
    for r in recordings() {
        for end in ["\n", "\r\n", "\r"] {
            let body = with_line_ends(&r.body, end);
            let pieces: Vec<&[u8]> = body.chunks(1).collect();
            let (_, got) = decode_pieces(r.dialect, &pieces);
            assert_eq!(got, expected(&r.name), "{} with {end:?}", r.name);
        }
    }
}

#[test]
fn crlf_split_at_every_byte() {
    for r in recordings() {
        let body = with_line_ends(&r.body, "\r\n");
        for i in 0..=body.len() {
            let (a, b) = body.split_at(i);
            let (_, got) = decode_pieces(r.dialect, &[a, b]);
            assert_eq!(got, expected(&r.name), "{} CRLF split at {i}", r.name);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any number of random cut points, any line-end style: the same answer.
    #[test]
    fn random_splits_give_the_same_answer(
        which in 0usize..4,
        style in 0usize..3,
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let recs = recordings();
        let r = &recs[which % recs.len()];
        let body = with_line_ends(&r.body, ["\n", "\r\n", "\r"][style]);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut at = 0;
        for p in points {
            pieces.push(&body[at..p]);
            at = p;
        }
        pieces.push(&body[at..]);
        let (events, got) = decode_pieces(r.dialect, &pieces);
        prop_assert_eq!(got, expected(&r.name));
        let (whole, _) = decode_pieces(r.dialect, &[&body]);
        prop_assert_eq!(events, whole);
    }
}
