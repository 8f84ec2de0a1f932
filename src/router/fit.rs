//! Keeps the research loop's growing history within the largest request the pool's models
//! take. A free Groq key serves reasoning models whose whole minute (8K tokens) is also the
//! largest request they take: a few search results and one fetched page would outgrow it,
//! and every later turn would be refused as too large. So each tool result is capped when
//! it arrives, and when the history still outgrows the budget the oldest results are cut
//! first: the model keeps what it read last and can search again for what was cut.

use crate::message::{Content, Message, Role};

/// What a result cut to fit the request says it was.
const TRIMMED: &str = "\n[cut to fit the model's request size]";
/// What a result dropped to fit the request says instead.
const DROPPED: &str = "[dropped to fit the model's request size: search again if needed]";
/// The bytes of an old result kept when it is first cut.
const KEEP_WHEN_TRIMMED: usize = 400;
/// Bytes per token assumed when a token budget is turned into a byte cap (English text
/// runs near four; three keeps the cap on the safe side for code and other languages).
const BYTES_PER_TOKEN: u64 = 3;

/// The prompt tokens a research turn may use when the pool's largest request is
/// `largest`: what is left after the answer's share, the task's usual answer but never
/// more than a third of the request, so a reasoning model has room to think and answer.
pub(crate) fn prompt_budget(largest: u64, usual_answer: u64) -> u64 {
    largest.saturating_sub(usual_answer.min(largest / 3))
}

/// The most bytes one tool result may add to a history whose prompt budget is `budget`
/// tokens: a third of it, so one fetched page never leaves no room for the rest.
pub(crate) fn result_cap(budget: u64) -> usize {
    usize::try_from(budget.saturating_mul(BYTES_PER_TOKEN) / 3).unwrap_or(usize::MAX)
}

/// `text` cut to at most `max_bytes` (on a character boundary), saying it was cut.
pub(crate) fn cap_text(text: String, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text;
    }
    let keep = max_bytes.saturating_sub(TRIMMED.len());
    let mut end = keep.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = text[..end].to_string();
    out.push_str(TRIMMED);
    out
}

/// Cuts the oldest tool results, then drops them, until `estimate` of the history is at
/// most `budget`. Returns how many results it changed (0: the history already fitted, or
/// nothing is left to cut and it still does not) and the estimate of the history as it
/// leaves it (what the turn reserves for its prompt).
pub(crate) fn fit_history(
    messages: &mut [Message],
    budget: u64,
    estimate: impl Fn(&[Message]) -> u64,
) -> (usize, u64) {
    let mut changed = 0;
    for pass in [Pass::Trim, Pass::Drop] {
        for i in 0..messages.len() {
            let now = estimate(messages);
            if now <= budget {
                return (changed, now);
            }
            if messages[i].role != Role::Tool {
                continue;
            }
            let text: String = messages[i].texts().collect();
            let shorter = match pass {
                Pass::Trim if text.len() > KEEP_WHEN_TRIMMED + TRIMMED.len() => {
                    cap_text(text, KEEP_WHEN_TRIMMED + TRIMMED.len())
                }
                Pass::Drop if text != DROPPED => DROPPED.to_string(),
                _ => continue,
            };
            messages[i].content = Some(Content::Text(shorter));
            changed += 1;
        }
    }
    (changed, estimate(messages))
}

/// The two passes of [`fit_history`]: cut every old result to its start, then drop them.
#[derive(Clone, Copy)]
enum Pass {
    Trim,
    Drop,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(m: &[Message]) -> u64 {
        m.iter()
            .map(|m| m.texts().map(str::len).sum::<usize>() as u64)
            .sum()
    }

    fn history() -> Vec<Message> {
        vec![
            Message::user("question"),
            Message::tool_result("call_1", "a".repeat(2_000)),
            Message::tool_result("call_2", "b".repeat(2_000)),
            Message::tool_result("call_3", "c".repeat(2_000)),
        ]
    }

    #[test]
    fn the_answer_keeps_its_usual_share_but_never_more_than_a_third() {
        assert_eq!(prompt_budget(7_600, 3_072), 5_067);
        assert_eq!(prompt_budget(120_000, 3_072), 116_928);
        assert_eq!(prompt_budget(0, 3_072), 0);
    }

    #[test]
    fn a_long_result_is_cut_on_a_character_boundary_and_says_so() {
        let text = "é".repeat(1_000);
        let cut = cap_text(text.clone(), 300);
        assert!(cut.len() <= 300, "{}", cut.len());
        assert!(cut.ends_with(TRIMMED));
        assert_eq!(cap_text("short".into(), 300), "short");
        assert!(result_cap(5_000) >= 4_000);
    }

    #[test]
    fn the_oldest_results_are_cut_first_and_the_newest_kept_whole() {
        let mut h = history();
        let (changed, estimate) = fit_history(&mut h, 3_000, bytes);
        assert!(bytes(&h) <= 3_000, "{}", bytes(&h));
        assert_eq!(estimate, bytes(&h));
        assert_eq!(changed, 2);
        let last: String = h[3].texts().collect();
        assert_eq!(last, "c".repeat(2_000), "the newest result is whole");
        let first: String = h[1].texts().collect();
        assert!(first.starts_with("aaa") && first.ends_with(TRIMMED));
        assert_eq!(h[0].texts().collect::<String>(), "question");
    }

    #[test]
    fn results_are_dropped_when_cutting_is_not_enough() {
        let mut h = history();
        fit_history(&mut h, 600, bytes);
        assert!(bytes(&h) <= 600, "{}", bytes(&h));
        assert!(
            h[1..]
                .iter()
                .any(|m| m.texts().collect::<String>() == DROPPED)
        );
    }

    #[test]
    fn a_history_that_fits_is_left_alone_and_one_that_cannot_fit_ends() {
        let mut h = history();
        assert_eq!(fit_history(&mut h, 10_000, bytes), (0, bytes(&history())));
        assert_eq!(h, history());
        // Only the question is left and it alone is over: every result changed, then stop.
        let (changed, estimate) = fit_history(&mut h, 1, bytes);
        assert_eq!(changed, 6);
        assert_eq!(estimate, bytes(&h));
    }
}
