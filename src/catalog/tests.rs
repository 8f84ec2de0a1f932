//! The embedded catalog is well-formed and keeps its promises.

use super::*;
use crate::model::Task;

/// Every model its provider retired must stay out of the catalog, and the config names a
/// replacement that is in it.
#[test]
fn no_retired_model_and_every_replacement_exists() {
    let models = builtin();
    for r in RETIRED {
        assert!(
            !models
                .iter()
                .any(|m| m.model.provider == r.provider && m.model.id == r.id),
            "{}/{} is retired",
            r.provider,
            r.id
        );
        assert!(
            models.iter().any(|m| m.model.to_string() == r.replacement),
            "{}/{}: replacement {} is not in the catalog",
            r.provider,
            r.id,
            r.replacement
        );
    }
    for m in &models {
        assert!(!m.model.id.contains("vision-preview"), "{}", m.model);
        assert!(!m.model.id.to_ascii_lowercase().contains("llama") || m.model.provider != "groq");
    }
}

#[test]
fn builtin_parses_and_has_the_required_models() {
    let models = parse_catalog(BUILTIN_TOML, BUILTIN_LABEL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(builtin(), models);
    for want in [
        "groq/openai/gpt-oss-120b",
        "groq/openai/gpt-oss-20b",
        "groq/qwen/qwen3.8-27b",
        "groq/whisper-large-v3",
        "groq/whisper-large-v3-turbo",
        "openai/gpt-6-luna",
        "openai/gpt-4o-mini",
        "openai/whisper-1",
        "together/openai/gpt-oss-120b",
        "together/openai/whisper-large-v3",
    ] {
        assert!(
            models.iter().any(|m| m.model.to_string() == want),
            "missing {want}"
        );
    }
    for p in ["groq", "openai", "together"] {
        for task in Task::POOLS {
            assert!(
                models.iter().any(|m| m.model.provider == p
                    && m.tasks.contains(&task)
                    && (task != Task::Vision || m.vision)),
                "{p} has no model for {task}"
            );
        }
    }
}

#[test]
fn reasoning_models_say_which_efforts_they_take() {
    let models = builtin();
    let oss = models
        .iter()
        .find(|m| m.model.to_string() == "groq/openai/gpt-oss-20b")
        .unwrap();
    assert!(oss.reasoning);
    // gpt-oss rejects `none` (providers' notes): it must not be listed.
    assert_eq!(oss.reasoning_efforts, ["low", "medium", "high"]);
    let old = models
        .iter()
        .find(|m| m.model.to_string() == "openai/gpt-4o-mini")
        .unwrap();
    assert!(!old.reasoning && old.reasoning_efforts.is_empty());
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
fn groq_free_chat_models_have_the_2026_limits() {
    for m in builtin()
        .into_iter()
        .filter(|m| m.model.provider == "groq" && !m.transcription)
    {
        let l = m.limits;
        assert_eq!(
            (l.rpm, l.rpd, l.tpm, l.tpd),
            (Some(30), Some(1000), Some(8000), Some(200_000)),
            "{}",
            m.model
        );
    }
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
            assert!(m.tasks.contains(&task), "{r} in {task} without the task");
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
    // fast: Groq first (its free tier), the cheap model before the large one; the plain
    // chat pools take models without parallel tool calls (matched per request instead).
    assert_eq!(pools[&Task::Fast][0].to_string(), "groq/openai/gpt-oss-20b");
    assert_eq!(
        pools[&Task::Fast][1].to_string(),
        "groq/openai/gpt-oss-120b"
    );
    assert!(pools[&Task::Vision].iter().any(|m| m.provider == "groq"));
    // code: the coder model first.
    assert!(
        pools[&Task::Code][0].id.contains("Coder"),
        "{:?}",
        pools[&Task::Code]
    );
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
