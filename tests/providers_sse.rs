//! The SSE parser and the stream decoder on synthetic streams: line ends, comments,
//! multi-line data, splits inside UTF-8, and each dialect's chunk quirks.

use rota::model::{Dialect, Reason, Usage};
use rota::providers::sse::{SseEvent, SseParser};
use rota::providers::{
    Assembler, ChatOutcome, ErrorKind, StreamDecoder, StreamEvent, ToolCall, decode_stream,
};

fn parse_all(pieces: &[&[u8]]) -> Vec<SseEvent> {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    for piece in pieces {
        out.extend(p.feed(piece));
    }
    out.extend(p.finish());
    out
}

fn data(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

#[test]
fn lf_crlf_and_cr_line_ends_give_the_same_events() {
    let lf = b"data: a\n\ndata: b\n\n";
    let crlf = b"data: a\r\n\r\ndata: b\r\n\r\n";
    let cr = b"data: a\r\rdata: b\r\r";
    for body in [&lf[..], &crlf[..], &cr[..]] {
        assert_eq!(data(&parse_all(&[body])), vec!["a", "b"]);
    }
}

#[test]
fn crlf_split_between_cr_and_lf_is_one_line_end() {
    let ev = parse_all(&[b"data: a\r", b"\n", b"\r", b"\ndata: b\r\n\r\n"]);
    assert_eq!(data(&ev), vec!["a", "b"]);
}

#[test]
fn comments_and_keep_alives_are_skipped() {
    let ev = parse_all(&[b": keep-alive\n\n:\n\ndata: x\n: mid-event comment\n\n"]);
    assert_eq!(data(&ev), vec!["x"]);
}

#[test]
fn multi_line_data_is_joined_with_newlines() {
    let ev = parse_all(&[b"data: one\ndata: two\ndata:three\ndata\n\n"]);
    assert_eq!(data(&ev), vec!["one\ntwo\nthree\n"]);
}

#[test]
fn only_one_leading_space_is_removed() {
    let ev = parse_all(&[b"data:  two spaces\n\n"]);
    assert_eq!(data(&ev), vec![" two spaces"]);
}

#[test]
fn event_and_id_fields_are_kept_and_retry_ignored() {
    let ev = parse_all(&[b"event: ping\nid: 7\nretry: 100\ndata: p\n\ndata: q\n\n"]);
    assert_eq!(ev[0].event.as_deref(), Some("ping"));
    assert_eq!(ev[0].id.as_deref(), Some("7"));
    assert_eq!(ev[1].event, None, "event type resets after dispatch");
    assert_eq!(ev[1].id.as_deref(), Some("7"), "last id persists");
}

#[test]
fn events_without_data_are_not_dispatched() {
    let ev = parse_all(&[b"event: nothing\n\nid: 3\n\n\n\ndata: real\n\n"]);
    assert_eq!(data(&ev), vec!["real"]);
}

#[test]
fn a_split_inside_a_utf8_character_is_harmless() {
    let body = "data: héllo → 世界 🎉\n\n".as_bytes();
    for i in 0..=body.len() {
        let ev = parse_all(&[&body[..i], &body[i..]]);
        assert_eq!(data(&ev), vec!["héllo → 世界 🎉"], "split at {i}");
    }
    let pieces: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(data(&parse_all(&pieces)), vec!["héllo → 世界 🎉"]);
}

#[test]
fn a_leading_bom_is_dropped_even_when_split() {
    let body = b"\xEF\xBB\xBFdata: x\n\n";
    for i in 0..=body.len() {
        let ev = parse_all(&[&body[..i], &body[i..]]);
        assert_eq!(data(&ev), vec!["x"], "split at {i}");
    }
}

#[test]
fn the_last_event_without_a_blank_line_is_delivered_at_the_end() {
    assert_eq!(
        data(&parse_all(&[b"data: a\n\ndata: tail"])),
        vec!["a", "tail"]
    );
    assert_eq!(
        data(&parse_all(&[b"data: a\n\ndata: tail\n"])),
        vec!["a", "tail"]
    );
}

fn chunk(delta: &str, finish: Option<&str>, usage: Option<&str>) -> String {
    let finish = finish.map_or("null".into(), |f| format!("\"{f}\""));
    let usage = usage.unwrap_or("null");
    format!(
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}],\"usage\":{usage}}}\n\n"
    )
}

fn outcome(dialect: Dialect, body: &str) -> ChatOutcome {
    decode_stream(dialect, body.as_bytes()).unwrap()
}

#[test]
fn openai_usage_chunk_with_empty_choices() {
    let body = [
        chunk(r#"{"role":"assistant","content":""}"#, None, None),
        chunk(r#"{"content":"Hi"}"#, None, None),
        chunk(r#"{"content":" there"}"#, None, None),
        chunk("{}", Some("stop"), None),
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":2,\"total_tokens\":23}}\n\n".into(),
        "data: [DONE]\n\n".into(),
    ]
    .concat();
    let o = outcome(Dialect::OpenAi, &body);
    assert_eq!(o.text, "Hi there");
    assert_eq!(
        o.usage,
        Some(Usage {
            prompt_tokens: 21,
            completion_tokens: 2
        })
    );
    assert_eq!(o.finish_reason.as_deref(), Some("stop"));
}

#[test]
fn repeated_usage_takes_the_last_never_the_sum() {
    let body = [
        chunk(
            r#"{"content":"x"}"#,
            None,
            Some(r#"{"prompt_tokens":1,"completion_tokens":1}"#),
        ),
        chunk(
            "{}",
            Some("stop"),
            Some(r#"{"prompt_tokens":10,"completion_tokens":5}"#),
        ),
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5}}\n\n"
            .into(),
    ]
    .concat();
    let o = outcome(Dialect::Groq, &body);
    assert_eq!(
        o.usage,
        Some(Usage {
            prompt_tokens: 10,
            completion_tokens: 5
        })
    );
}

#[test]
fn groq_usage_only_in_x_groq_is_read_for_groq_only() {
    let body = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":{\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}}\n\ndata: [DONE]\n\n";
    assert_eq!(
        outcome(Dialect::Groq, body).usage,
        Some(Usage {
            prompt_tokens: 7,
            completion_tokens: 2
        })
    );
    assert_eq!(outcome(Dialect::OpenAi, body).usage, None);
}

#[test]
fn content_null_and_empty_are_not_text() {
    let body = [
        chunk(r#"{"role":"assistant","content":null}"#, None, None),
        chunk(r#"{"content":""}"#, None, None),
        chunk(r#"{"content":"ok"}"#, Some("stop"), None),
    ]
    .concat();
    let mut dec = StreamDecoder::new(Dialect::Generic);
    let mut events = Vec::new();
    dec.feed(body.as_bytes(), &mut events).unwrap();
    dec.finish(&mut events).unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Text("ok".into()),
            StreamEvent::Finish("stop".into())
        ]
    );
}

#[test]
fn together_legacy_text_field_is_not_doubled() {
    let body = "data: {\"choices\":[{\"index\":0,\"text\":\"Hel\",\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"text\":\"lo\",\"delta\":{\"content\":\"lo\"}}]}\n\n";
    for d in [Dialect::Together, Dialect::Generic, Dialect::OpenAi] {
        assert_eq!(outcome(d, body).text, "Hello", "{d:?}");
    }
}

#[test]
fn completion_style_text_without_delta_is_read_by_generic_servers() {
    let body = "data: {\"choices\":[{\"index\":0,\"text\":\"plain\"}]}\n\n";
    assert_eq!(outcome(Dialect::Generic, body).text, "plain");
    assert_eq!(outcome(Dialect::Together, body).text, "");
}

#[test]
fn parallel_tool_calls_interleave_by_index() {
    let tc = |frag: &str| chunk(&format!(r#"{{"tool_calls":[{frag}]}}"#), None, None);
    let body = [
        tc(r#"{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}"#),
        tc(r#"{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":""}}"#),
        tc(r#"{"index":0,"function":{"arguments":"{\"city\":"}}"#),
        tc(r#"{"index":1,"function":{"arguments":"{\"tz\":\"UTC\"}"}}"#),
        tc(r#"{"index":0,"function":{"arguments":"\"Paris\"}"}}"#),
        chunk("{}", Some("tool_calls"), None),
        "data: [DONE]\n\n".into(),
    ]
    .concat();
    let o = outcome(Dialect::OpenAi, &body);
    assert_eq!(
        o.tool_calls,
        vec![
            ToolCall {
                id: "call_a".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into()
            },
            ToolCall {
                id: "call_b".into(),
                name: "get_time".into(),
                arguments: r#"{"tz":"UTC"}"#.into()
            },
        ]
    );
    assert_eq!(o.finish_reason.as_deref(), Some("tool_calls"));
}

#[test]
fn id_and_name_repeated_in_every_fragment_are_not_duplicated() {
    let tc = |args: &str| {
        chunk(
            &format!(
                r#"{{"tool_calls":[{{"index":0,"id":"call_1","type":"function","function":{{"name":"lookup","arguments":"{args}"}}}}]}}"#
            ),
            None,
            None,
        )
    };
    let body = [tc("{\\\"q\\\":"), tc("\\\"rust\\\""), tc("}")].concat();
    let o = outcome(Dialect::Generic, &body);
    assert_eq!(
        o.tool_calls,
        vec![ToolCall {
            id: "call_1".into(),
            name: "lookup".into(),
            arguments: r#"{"q":"rust"}"#.into()
        }]
    );
}

#[test]
fn calls_all_numbered_zero_but_with_distinct_ids_stay_apart() {
    let tc = |id: &str, name: &str, args: &str| {
        chunk(
            &format!(
                r#"{{"tool_calls":[{{"index":0,"id":"{id}","function":{{"name":"{name}","arguments":"{args}"}}}}]}}"#
            ),
            None,
            None,
        )
    };
    let body = [tc("a", "f", "{}"), tc("b", "g", "{}")].concat();
    let o = outcome(Dialect::Generic, &body);
    let names: Vec<_> = o.tool_calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["f", "g"]);
}

#[test]
fn tool_call_without_id_gets_a_stable_one_and_object_arguments_become_json() {
    let body = chunk(
        r#"{"tool_calls":[{"index":0,"function":{"name":"f","arguments":{"a":1}}}]}"#,
        Some("tool_calls"),
        None,
    );
    let o = outcome(Dialect::Generic, &body);
    assert_eq!(o.tool_calls[0].id, "call_0");
    assert_eq!(o.tool_calls[0].arguments, r#"{"a":1}"#);
}

#[test]
fn big_integers_do_not_break_parsing() {
    let body = "data: {\"choices\":[{\"index\":0,\"seed\":15924764223251450000,\"delta\":{\"content\":\"a\"}}],\"huge\":123456789012345678901234567890}\n\n";
    assert_eq!(outcome(Dialect::Together, body).text, "a");
}

#[test]
fn missing_done_ends_at_stream_end_and_anything_after_done_is_ignored() {
    let body = [chunk(r#"{"content":"a"}"#, Some("stop"), None)].concat();
    assert_eq!(
        outcome(Dialect::OpenAi, &body).finish_reason.as_deref(),
        Some("stop")
    );
    let after = format!(
        "{body}data: [DONE]\n\n{}data: {{broken\n\n",
        chunk(r#"{"content":"b"}"#, None, None)
    );
    assert_eq!(outcome(Dialect::OpenAi, &after).text, "a");
}

#[test]
fn other_choices_than_the_first_are_ignored() {
    let body = "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"no\"}},{\"index\":0,\"delta\":{\"content\":\"yes\"}}]}\n\n";
    assert_eq!(outcome(Dialect::OpenAi, body).text, "yes");
}

#[test]
fn named_non_json_events_are_ignored_but_unnamed_garbage_is_bad_response() {
    let ok = "event: ping\ndata: ping\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n";
    assert_eq!(outcome(Dialect::Generic, ok).text, "a");
    let bad =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {not json\n\n";
    let mut dec = StreamDecoder::new(Dialect::Generic);
    let mut events = Vec::new();
    let err = dec.feed(bad.as_bytes(), &mut events).unwrap_err();
    assert_eq!(err.reason(), Reason::BadResponse);
    assert_eq!(err.kind, ErrorKind::Malformed);
    assert_eq!(
        events,
        vec![StreamEvent::Text("a".into())],
        "events before the error are kept"
    );
}

#[test]
fn an_error_object_in_the_stream_goes_to_classify_with_its_body() {
    let body = "data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}\n\n";
    let headers = vec![("retry-after".to_string(), "3".to_string())];
    let mut dec = StreamDecoder::for_reply(Dialect::Groq, 200, headers.clone(), None);
    let mut events = Vec::new();
    let err = dec.feed(body.as_bytes(), &mut events).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InStream);
    assert_eq!(err.status, Some(200));
    assert_eq!(err.headers, headers);
    assert_eq!(err.body, body.trim_start_matches("data: ").trim_end());
    assert!(!err.classified.message.is_empty());
    // `event: error` is an error too.
    let mut dec = StreamDecoder::new(Dialect::Generic);
    let e = dec
        .feed(
            b"event: error\ndata: {\"message\":\"boom\"}\n\n",
            &mut events,
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InStream);
}

#[test]
fn a_whole_completion_is_read_when_the_server_ignores_stream() {
    let body = r#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","tool_calls":[{"id":"call_9","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
    let mut dec = StreamDecoder::new(Dialect::Generic);
    let mut events = Vec::new();
    dec.whole(body, &mut events).unwrap();
    let mut asm = Assembler::new();
    events.iter().for_each(|e| asm.push(e));
    let o = asm.finish();
    assert_eq!(o.text, "Hi");
    assert_eq!(o.tool_calls[0].id, "call_9");
    assert_eq!(o.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(o.usage.map(|u| u.total()), Some(7));
}

#[test]
fn a_body_without_any_chunk_is_a_bad_response() {
    for body in [
        "",
        "<html><body>Sign in to the Wi-Fi</body></html>",
        ": only a comment\n\n",
    ] {
        let err = decode_stream(Dialect::OpenAi, body.as_bytes()).unwrap_err();
        assert_eq!(err.reason(), Reason::BadResponse, "{body:?}");
    }
    let only_done = decode_stream(Dialect::OpenAi, b"data: [DONE]\n\n").unwrap();
    assert_eq!(only_done, ChatOutcome::default());
}

#[test]
fn an_event_that_never_ends_is_refused_instead_of_buffered_forever() {
    use rota::providers::sse::MAX_EVENT_BYTES;
    // One endless line (no line end), fed in network-sized pieces.
    let piece = vec![b'x'; 64 * 1024];
    let mut dec = StreamDecoder::new(Dialect::Generic);
    let mut events = Vec::new();
    let mut fed = 0;
    let err = loop {
        match dec.feed(&piece, &mut events) {
            Ok(()) => fed += piece.len(),
            Err(e) => break e,
        }
        assert!(fed <= MAX_EVENT_BYTES, "kept buffering past the cap");
    };
    assert_eq!(err.reason(), Reason::BadResponse);
    assert_eq!(err.kind, ErrorKind::Malformed);
    // Endless `data:` lines without the blank line that ends an event: the same.
    let line = format!("data: {}\n", "y".repeat(64 * 1024));
    let mut dec = StreamDecoder::new(Dialect::Generic);
    let mut fed = 0;
    let err = loop {
        match dec.feed(line.as_bytes(), &mut events) {
            Ok(()) => fed += line.len(),
            Err(e) => break e,
        }
        assert!(fed <= MAX_EVENT_BYTES, "kept buffering past the cap");
    };
    assert_eq!(err.reason(), Reason::BadResponse);
    let mut p = SseParser::new();
    p.feed(b"data: abc\n");
    assert_eq!(p.buffered(), "abc\n".len());
}

#[test]
fn reasoning_arrives_under_either_field_name_and_stays_out_of_the_answer() {
    for (dialect, field) in [
        (Dialect::Groq, "reasoning"),
        (Dialect::Together, "reasoning_content"),
        (Dialect::Generic, "reasoning_content"),
    ] {
        let body = [
            chunk(
                &format!(r#"{{"role":"assistant","{field}":"Let me"}}"#),
                None,
                None,
            ),
            chunk(&format!(r#"{{"{field}":" think."}}"#), None, None),
            chunk(r#"{"content":"Blue."}"#, None, None),
            chunk("{}", Some("length"), None),
            "data: [DONE]\n\n".into(),
        ]
        .concat();
        let o = outcome(dialect, &body);
        assert_eq!(o.reasoning, "Let me think.", "{field}");
        assert_eq!(o.text, "Blue.", "{field}");
        assert_eq!(o.finish_reason.as_deref(), Some("length"));
    }
}
