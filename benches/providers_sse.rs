//! Throughput of the stream decoder (SSE parsing + chunk decoding + assembly) on a long
//! OpenAI-style answer delivered in network-sized pieces.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rota::model::Dialect;
use rota::providers::{Assembler, StreamDecoder};
use std::hint::black_box;

fn long_stream(tokens: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..tokens {
        s.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1778031305,\"model\":\"llama-3.3-70b-versatile\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" word{i}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        ));
    }
    s.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":45,\"completion_tokens\":2000}}\n\ndata: [DONE]\n\n");
    s.into_bytes()
}

fn decode(c: &mut Criterion) {
    let body = long_stream(2000);
    let mut g = c.benchmark_group("providers_sse");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("decode_2000_chunks_in_1400_byte_pieces", |b| {
        b.iter(|| {
            let mut dec = StreamDecoder::new(Dialect::Groq);
            let mut asm = Assembler::new();
            let mut events = Vec::new();
            for piece in body.chunks(1400) {
                dec.feed(black_box(piece), &mut events).unwrap();
                events.drain(..).for_each(|e| asm.push(&e));
            }
            dec.finish(&mut events).unwrap();
            events.iter().for_each(|e| asm.push(e));
            black_box(asm.finish())
        })
    });
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
