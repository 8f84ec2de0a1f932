//! The main models with their published limits (providers.md, read late 2025), used by the
//! default fleet while the built-in catalog is empty.

use crate::catalog::ModelSpec;
use crate::model::{Limits, ModelRef, Task};

/// One fallback row: provider, id, limits, context, tools, vision, transcription, tasks.
struct Row {
    provider: &'static str,
    id: &'static str,
    limits: Limits,
    context: u64,
    tools: bool,
    vision: bool,
    transcription: bool,
    tasks: &'static [Task],
}

fn lim(rpm: u64, tpm: u64, rpd: u64, tpd: u64) -> Limits {
    let opt = |v: u64| if v == 0 { None } else { Some(v) };
    Limits {
        rpm: opt(rpm),
        tpm: opt(tpm),
        rpd: opt(rpd),
        tpd: opt(tpd),
        ash: None,
        asd: None,
    }
}

/// The fallback models as catalog specs.
pub fn models() -> Vec<ModelSpec> {
    use Task::{Code, Fast, Research, Vision};
    let mut whisper_groq = lim(20, 0, 2_000, 0);
    whisper_groq.ash = Some(7_200);
    whisper_groq.asd = Some(28_800);
    let rows = [
        Row {
            provider: "groq",
            id: "llama-3.1-8b-instant",
            limits: lim(30, 6_000, 14_400, 500_000),
            context: 131_072,
            tools: true,
            vision: false,
            transcription: false,
            tasks: &[Fast],
        },
        Row {
            provider: "groq",
            id: "llama-3.3-70b-versatile",
            limits: lim(30, 12_000, 1_000, 100_000),
            context: 131_072,
            tools: true,
            vision: false,
            transcription: false,
            tasks: &[Research, Code, Fast],
        },
        Row {
            provider: "groq",
            id: "meta-llama/llama-4-scout-17b-16e-instruct",
            limits: lim(30, 30_000, 1_000, 500_000),
            context: 131_072,
            tools: true,
            vision: true,
            transcription: false,
            tasks: &[Vision, Fast],
        },
        Row {
            provider: "groq",
            id: "whisper-large-v3",
            limits: whisper_groq,
            context: 448,
            tools: false,
            vision: false,
            transcription: true,
            tasks: &[],
        },
        Row {
            provider: "openai",
            id: "gpt-4o-mini",
            limits: lim(500, 200_000, 10_000, 0),
            context: 128_000,
            tools: true,
            vision: true,
            transcription: false,
            tasks: &[Fast, Code, Vision],
        },
        Row {
            provider: "openai",
            id: "gpt-4o",
            limits: lim(500, 30_000, 0, 0),
            context: 128_000,
            tools: true,
            vision: true,
            transcription: false,
            tasks: &[Research, Code, Vision],
        },
        Row {
            provider: "openai",
            id: "whisper-1",
            limits: lim(500, 0, 0, 0),
            context: 448,
            tools: false,
            vision: false,
            transcription: true,
            tasks: &[],
        },
        Row {
            provider: "together",
            id: "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            limits: lim(60, 60_000, 0, 0),
            context: 131_072,
            tools: true,
            vision: false,
            transcription: false,
            tasks: &[Research, Code, Fast],
        },
        Row {
            provider: "together",
            id: "openai/whisper-large-v3",
            limits: lim(60, 0, 0, 0),
            context: 448,
            tools: false,
            vision: false,
            transcription: true,
            tasks: &[],
        },
    ];
    rows.into_iter()
        .map(|r| {
            let mut s = ModelSpec::bare(ModelRef::new(r.provider, r.id));
            s.limits = r.limits;
            s.context_window = Some(r.context);
            s.tools = r.tools;
            s.parallel_tools = r.tools;
            s.vision = r.vision;
            s.transcription = r.transcription;
            s.tasks = r.tasks.to_vec();
            s
        })
        .collect()
}
