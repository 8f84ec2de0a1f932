//! The embedded catalog is well-formed and keeps its promises.

use super::*;
use crate::model::Task;

/// Models their provider has shut down (Groq, https://console.groq.com/docs/deprecations):
/// they must never come back into the catalog.
const RETIRED: [&str; 10] = [
    "mixtral-8x7b-32768",
    "llama-3.1-70b-versatile",
    "llama-3.2-11b-vision-preview",
    "llama-3.2-90b-vision-preview",
    "llama-3.2-1b-preview",
    "moonshotai/kimi-k2-instruct",
    "meta-llama/llama-4-maverick-17b-128e-instruct",
    "meta-llama/llama-4-scout-17b-16e-instruct",
    "qwen/qwen3-32b",
    "llama3-70b-8192",
];

/// Groq models shut down on the free and developer tiers (2026-08-16) that stay listed only
/// because the simulated fleet and configs name them: they must join no default pool.
const RETIRED_BUT_LISTED: [&str; 2] = ["llama-3.1-8b-instant", "llama-3.3-70b-versatile"];

#[test]
fn builtin_parses_and_has_the_required_models() {
    let models = parse_catalog(BUILTIN_TOML, BUILTIN_LABEL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(builtin(), models);
    for want in [
        "groq/llama-3.1-8b-instant",
        "groq/llama-3.3-70b-versatile",
        "groq/openai/gpt-oss-120b",
        "groq/openai/gpt-oss-20b",
        "groq/whisper-large-v3",
        "groq/whisper-large-v3-turbo",
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
        "openai/whisper-1",
        "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "together/openai/whisper-large-v3",
    ] {
        assert!(
            models.iter().any(|m| m.model.to_string() == want),
            "missing {want}"
        );
    }
    assert!(
        models
            .iter()
            .any(|m| m.model.provider == "together" && m.vision)
    );
    assert!(
        models
            .iter()
            .any(|m| m.model.provider == "together" && m.tasks.contains(&Task::Code))
    );
}

#[test]
fn no_retired_model() {
    for m in builtin() {
        assert!(
            !RETIRED.iter().any(|r| m.model.id.contains(r)),
            "{} is retired",
            m.model
        );
        assert!(!m.model.id.contains("vision-preview"), "{}", m.model);
    }
}

#[test]
fn retired_models_still_listed_join_no_pool_and_say_so() {
    let models = builtin();
    let providers: Vec<_> = crate::config::BUILTIN_PROVIDERS
        .iter()
        .map(|(n, u)| crate::config::ProviderConfig {
            name: n.to_string(),
            base_url: u.to_string(),
            keys: vec![],
            enabled: true,
        })
        .collect();
    let pools = crate::config::default_pools(&models, &providers);
    for id in RETIRED_BUT_LISTED {
        let m = models
            .iter()
            .find(|m| m.model.provider == "groq" && m.model.id == id)
            .unwrap_or_else(|| panic!("groq/{id} is gone: drop it from RETIRED_BUT_LISTED"));
        assert!(m.tasks.is_empty(), "{} joins {:?}", m.model, m.tasks);
        let src = m.source.clone().unwrap_or_default();
        assert!(src.starts_with("RETIRED"), "{}: {src}", m.model);
        for task in Task::POOLS {
            assert!(!pools[&task].contains(&m.model), "{} in {task}", m.model);
        }
    }
}

#[test]
fn every_model_cites_a_source_with_a_date_and_has_figures() {
    for m in builtin() {
        let src = m.source.clone().unwrap_or_default();
        assert!(
            src.contains("https://") && src.contains("(read 20"),
            "{}: {src}",
            m.model
        );
        assert!(m.limits.rpm.is_some(), "{} has no rpm", m.model);
        if !m.transcription {
            assert!(m.context_window.is_some(), "{}", m.model);
            assert!(
                m.input_cost_per_mtok > 0.0 && m.output_cost_per_mtok > 0.0,
                "{}",
                m.model
            );
        }
    }
}

#[test]
fn groq_limits_are_per_model_not_flat() {
    let groq: Vec<_> = builtin()
        .into_iter()
        .filter(|m| m.model.provider == "groq" && !m.transcription)
        .collect();
    let tpms: std::collections::BTreeSet<_> = groq.iter().filter_map(|m| m.limits.tpm).collect();
    assert!(tpms.len() >= 3, "{tpms:?}");
    let m8b = groq
        .iter()
        .find(|m| m.model.id == "llama-3.1-8b-instant")
        .unwrap();
    assert_eq!(
        (
            m8b.limits.rpm,
            m8b.limits.rpd,
            m8b.limits.tpm,
            m8b.limits.tpd
        ),
        (Some(30), Some(14400), Some(6000), Some(500000))
    );
}

#[test]
fn pool_members_have_the_capabilities_they_need() {
    let models = builtin();
    let providers: Vec<_> = crate::config::BUILTIN_PROVIDERS
        .iter()
        .map(|(n, u)| crate::config::ProviderConfig {
            name: n.to_string(),
            base_url: u.to_string(),
            keys: vec![],
            enabled: true,
        })
        .collect();
    let pools = crate::config::default_pools(&models, &providers);
    for task in Task::POOLS {
        let pool = &pools[&task];
        assert!(!pool.is_empty(), "{task} pool is empty");
        for r in pool {
            let m = models.iter().find(|m| &m.model == r).unwrap();
            assert!(m.parallel_tools, "{r} in {task} lacks parallel tools");
            if task == Task::Vision {
                let img = m
                    .images
                    .as_ref()
                    .unwrap_or_else(|| panic!("{r} has no image limits"));
                assert!(
                    m.vision && img.max_images > 0 && img.max_image_bytes > 0,
                    "{r}"
                );
            }
        }
    }
    // fast: the small, cheap model first; vision: the gpt-4o family and a Llama 4.
    assert_eq!(pools[&Task::Fast][0].id, "gpt-4o-mini");
    assert!(
        pools[&Task::Vision]
            .iter()
            .any(|m| m.id.starts_with("gpt-4o"))
    );
    assert!(
        pools[&Task::Vision]
            .iter()
            .any(|m| m.id.contains("Llama-4"))
    );
    // code: the coder model first; research: large models only.
    assert!(
        pools[&Task::Code][0].id.contains("Coder"),
        "{:?}",
        pools[&Task::Code]
    );
    assert!(!pools[&Task::Research].iter().any(|m| m.id.contains("mini")));
}

#[test]
fn whisper_models_have_audio_limits() {
    let whisper: Vec<_> = builtin()
        .into_iter()
        .filter(|m| m.model.id.contains("whisper"))
        .collect();
    assert_eq!(whisper.len(), 4);
    for m in whisper {
        assert!(m.transcription && m.tasks.is_empty(), "{}", m.model);
        let a = m
            .audio
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no audio limits", m.model));
        assert!(
            !a.formats.is_empty() && a.cost_per_hour > 0.0,
            "{}",
            m.model
        );
        if m.model.provider != "together" {
            assert!(a.max_upload_bytes.is_some(), "{}", m.model);
        }
        if m.model.provider == "groq" {
            assert_eq!(a.min_billed_secs, 10);
        }
    }
}
