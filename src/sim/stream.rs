//! A finished answer in each dialect's shape: the non-streamed body, and the SSE chunks of a
//! stream (../fixtures/recordings/ shows the real ones).

use super::answer::ToolCall;
use crate::model::Dialect;
use serde_json::{Value, json};

/// One answer, ready to be written in a dialect.
#[derive(Clone, Debug)]
pub struct Completion {
    /// Whose shape to use.
    pub dialect: Dialect,
    /// `chatcmpl-…` id.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// Model id as requested.
    pub model: String,
    /// Text pieces (one token each); empty for a tool-call answer.
    pub pieces: Vec<String>,
    /// Thinking pieces (one token each) streamed before the answer; empty for a model that
    /// does not reason. Never in OpenAI's stream (its Chat Completions stream no thinking).
    pub thinking: Vec<String>,
    /// Tool calls (empty for a text answer).
    pub tool_calls: Vec<ToolCall>,
    /// `stop`, `length` or `tool_calls`.
    pub finish_reason: &'static str,
    /// Prompt tokens counted.
    pub prompt_tokens: u64,
    /// Completion tokens counted.
    pub completion_tokens: u64,
    /// `stream_options.include_usage` was set.
    pub include_usage: bool,
    /// Seed shown in Groq's `x_groq` and Together's final chunk.
    pub seed: u64,
}

/// One SSE event and how many answer tokens it carries (for pacing and mid-stream faults).
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// The whole event text, `data: …\n\n`.
    pub data: String,
    /// Answer tokens in it.
    pub tokens: u64,
}

fn event(v: &Value) -> String {
    format!("data: {v}\n\n")
}

impl Completion {
    fn text(&self) -> String {
        self.pieces.concat()
    }

    fn usage(&self) -> Value {
        let (p, c) = (self.prompt_tokens, self.completion_tokens);
        match self.dialect {
            Dialect::Groq => {
                let ct = c as f64 / 1_000.0;
                let pt = p as f64 / 100_000.0;
                json!({"queue_time": 0.01, "prompt_tokens": p, "prompt_time": pt,
                       "completion_tokens": c, "completion_time": ct, "total_tokens": p + c,
                       "total_time": pt + ct})
            }
            Dialect::Together => {
                json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c, "cached_tokens": 0})
            }
            _ => json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}),
        }
    }

    fn groq_req_id(&self) -> String {
        format!("req_{}", self.id.trim_start_matches("chatcmpl-"))
    }

    fn calls_json(&self) -> Vec<Value> {
        self.tool_calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect()
    }

    /// The non-streamed `chat.completion` body.
    pub fn body(&self) -> Value {
        let mut message = json!({"role": "assistant"});
        if self.tool_calls.is_empty() {
            message["content"] = json!(self.text());
        } else {
            message["content"] = Value::Null;
            message["tool_calls"] = json!(self.calls_json());
        }
        let mut body = json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": self.finish_reason}],
            "usage": self.usage(),
            "system_fingerprint": "fp_sim",
        });
        match self.dialect {
            Dialect::Groq => body["x_groq"] = json!({"id": self.groq_req_id()}),
            Dialect::Together => body["prompt"] = json!([]),
            _ => body["service_tier"] = json!("default"),
        }
        body
    }

    /// The SSE events of the stream, `data: [DONE]` last.
    pub fn chunks(&self) -> Vec<Chunk> {
        let mut out = match self.dialect {
            Dialect::Groq => self.groq_chunks(),
            Dialect::Together => self.together_chunks(),
            _ => self.openai_chunks(),
        };
        out.push(Chunk {
            data: "data: [DONE]\n\n".into(),
            tokens: 0,
        });
        out
    }

    fn base(&self, choices: Value) -> Value {
        json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
               "model": self.model, "system_fingerprint": "fp_sim", "choices": choices})
    }

    fn groq_chunks(&self) -> Vec<Chunk> {
        let mut out = Vec::new();
        let first_content = if self.tool_calls.is_empty() {
            json!("")
        } else {
            Value::Null
        };
        let mut first = self.base(json!([{"index": 0, "delta": {"role": "assistant", "content": first_content}, "logprobs": null, "finish_reason": null}]));
        first["x_groq"] = json!({"id": self.groq_req_id(), "seed": self.seed % 2_000_000_000});
        out.push(Chunk {
            data: event(&first),
            tokens: 0,
        });
        for p in &self.thinking {
            let c = self.base(json!([{"index": 0, "delta": {"reasoning": p}, "logprobs": null, "finish_reason": null}]));
            out.push(Chunk {
                data: event(&c),
                tokens: 1,
            });
        }
        for p in &self.pieces {
            let c = self.base(json!([{"index": 0, "delta": {"content": p}, "logprobs": null, "finish_reason": null}]));
            out.push(Chunk {
                data: event(&c),
                tokens: 1,
            });
        }
        let per_call = call_tokens(self.completion_tokens, self.tool_calls.len());
        for (i, call) in self.tool_calls.iter().enumerate() {
            let tc = json!([{"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}, "index": i}]);
            let c = self.base(json!([{"index": 0, "delta": {"tool_calls": tc}, "logprobs": null, "finish_reason": null}]));
            out.push(Chunk {
                data: event(&c),
                tokens: per_call,
            });
        }
        let usage = self.usage();
        let mut fin = self.base(json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": self.finish_reason}]));
        fin["x_groq"] = json!({"id": self.groq_req_id(), "usage": usage});
        if self.include_usage {
            fin["usage"] = usage.clone();
        }
        out.push(Chunk {
            data: event(&fin),
            tokens: 0,
        });
        if self.include_usage {
            let mut tail = self.base(json!([]));
            tail["usage"] = usage;
            tail["service_tier"] = json!("on_demand");
            out.push(Chunk {
                data: event(&tail),
                tokens: 0,
            });
        }
        out
    }

    fn openai_chunks(&self) -> Vec<Chunk> {
        let mut out = Vec::new();
        let with_usage = |mut v: Value| {
            if self.include_usage {
                v["usage"] = Value::Null;
            }
            v
        };
        let first_content = if self.tool_calls.is_empty() {
            json!("")
        } else {
            Value::Null
        };
        out.push(Chunk {
            data: event(&with_usage(self.base(json!([{"index": 0, "delta": {"role": "assistant", "content": first_content, "refusal": null}, "logprobs": null, "finish_reason": null}])))),
            tokens: 0,
        });
        for p in &self.pieces {
            out.push(Chunk {
                data: event(&with_usage(self.base(json!([{"index": 0, "delta": {"content": p}, "logprobs": null, "finish_reason": null}])))),
                tokens: 1,
            });
        }
        let per_call = call_tokens(self.completion_tokens, self.tool_calls.len());
        for (i, call) in self.tool_calls.iter().enumerate() {
            let head = json!([{"index": i, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}]);
            out.push(Chunk {
                data: event(&with_usage(self.base(json!([{"index": 0, "delta": {"tool_calls": head}, "logprobs": null, "finish_reason": null}])))),
                tokens: 0,
            });
            let frags = split_args(&call.arguments);
            let n = frags.len().max(1) as u64;
            for f in frags {
                let tc = json!([{"index": i, "function": {"arguments": f}}]);
                out.push(Chunk {
                    data: event(&with_usage(self.base(json!([{"index": 0, "delta": {"tool_calls": tc}, "logprobs": null, "finish_reason": null}])))),
                    tokens: (per_call / n).max(1),
                });
            }
        }
        out.push(Chunk {
            data: event(&with_usage(self.base(json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": self.finish_reason}])))),
            tokens: 0,
        });
        if self.include_usage {
            let mut tail = self.base(json!([]));
            tail["usage"] = self.usage();
            out.push(Chunk {
                data: event(&tail),
                tokens: 0,
            });
        }
        out
    }

    fn together(&self, choice: Value, usage: Option<Value>) -> Value {
        let mut v = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                           "choices": [choice], "model": self.model});
        if let Some(u) = usage {
            v["usage"] = u;
        }
        v
    }

    fn together_chunks(&self) -> Vec<Chunk> {
        let mut out = Vec::new();
        let big_seed = json!(self.seed | (1u64 << 63));
        for (i, p) in self.thinking.iter().enumerate() {
            let choice = json!({"index": 0, "text": "", "logprobs": null, "finish_reason": null, "seed": null,
                                "delta": {"token_id": 2000 + i as u64, "role": "assistant", "content": "", "reasoning_content": p}});
            out.push(Chunk {
                data: event(&self.together(choice, Some(Value::Null))),
                tokens: 1,
            });
        }
        if self.tool_calls.is_empty() {
            for (i, p) in self.pieces.iter().enumerate() {
                let choice = json!({"index": 0, "text": p, "logprobs": null, "finish_reason": null, "seed": null,
                                    "delta": {"token_id": 1000 + i as u64, "role": "assistant", "content": p}});
                out.push(Chunk {
                    data: event(&self.together(choice, Some(Value::Null))),
                    tokens: 1,
                });
            }
            let fin = json!({"index": 0, "text": "", "logprobs": null, "finish_reason": self.finish_reason, "seed": big_seed,
                             "delta": {"token_id": 128009, "role": "assistant", "content": ""}});
            out.push(Chunk {
                data: event(&self.together(fin, Some(self.usage()))),
                tokens: 0,
            });
            return out;
        }
        let first = json!({"index": 0, "role": "assistant", "text": "", "logprobs": null, "finish_reason": null,
                           "delta": {"token_id": null, "role": "assistant", "content": ""}});
        out.push(Chunk {
            data: event(&self.together(first, None)),
            tokens: 0,
        });
        let per_call = call_tokens(self.completion_tokens, self.tool_calls.len());
        let last = self.tool_calls.len().saturating_sub(1);
        for (i, call) in self.tool_calls.iter().enumerate() {
            let head = json!({"index": 0, "text": "", "logprobs": null, "finish_reason": null,
                              "delta": {"token_id": null, "role": "assistant", "content": "",
                                        "tool_calls": [{"index": i, "id": call.id, "type": "function",
                                                        "function": {"name": call.name, "arguments": ""}}]}});
            out.push(Chunk {
                data: event(&self.together(head, None)),
                tokens: 0,
            });
            let finish = if i == last {
                json!("tool_calls")
            } else {
                Value::Null
            };
            let args = json!({"index": 0, "text": "", "logprobs": null, "finish_reason": finish,
                              "delta": {"token_id": null, "role": "assistant", "content": "",
                                        "tool_calls": [{"index": i, "function": {"arguments": call.arguments}}]}});
            out.push(Chunk {
                data: event(&self.together(args, None)),
                tokens: per_call,
            });
        }
        let fin = json!({"index": 0, "text": "", "logprobs": null, "finish_reason": "tool_calls", "seed": big_seed,
                         "delta": {"token_id": 128009, "role": "assistant", "content": ""}});
        out.push(Chunk {
            data: event(&self.together(fin, Some(self.usage()))),
            tokens: 0,
        });
        out
    }
}

/// A chunk that is not valid JSON (for the `malformed_chunk` fault).
pub fn malformed(id: &str) -> Chunk {
    Chunk {
        data: format!(
            "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\n\n"
        ),
        tokens: 0,
    }
}

/// Completion tokens of tool calls: about one per 4 argument characters, plus the name.
pub fn tool_call_tokens(calls: &[ToolCall]) -> u64 {
    calls
        .iter()
        .map(|c| (c.arguments.len() as u64).div_ceil(4) + 5)
        .sum()
}

fn call_tokens(total: u64, calls: usize) -> u64 {
    if calls == 0 {
        0
    } else {
        (total / calls as u64).max(1)
    }
}

/// Splits argument text into up to three fragments on char boundaries.
fn split_args(args: &str) -> Vec<String> {
    let chars: Vec<char> = args.chars().collect();
    if chars.len() < 6 {
        return vec![args.to_string()];
    }
    let step = chars.len().div_ceil(3);
    chars.chunks(step).map(|c| c.iter().collect()).collect()
}
