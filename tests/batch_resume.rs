//! kill -9 of `rota batch -o OUT` halfway, then the same command again: every id is answered
//! `ok` exactly once across OUT, none is lost, and rota.db passes `PRAGMA integrity_check`.

mod shared_support;

use shared_support::{
    Fleet, Rig, assert_each_id_once, batch_input, ok_ids, totals, wait_for_answers,
};

#[test]
fn a_killed_batch_resumes_with_nothing_lost_or_done_twice() {
    // ~0.5 s per answer, 3 at a time: 30 prompts take ~5 s, so there is a middle to kill in.
    let rig = Rig::start(Fleet {
        rpm: 25,
        answer_tokens: 10,
        tokens_per_sec: 20,
    });
    let n = 30;
    let input = batch_input(rig.home.path(), n);
    let out = rig.home.path().join("out.jsonl");
    let args = [
        "batch",
        "--concurrency",
        "3",
        "-o",
        out.to_str().unwrap(),
        input.to_str().unwrap(),
    ];
    let mut child = rig.rota(&args).spawn().unwrap();
    wait_for_answers(&out, n / 3, &mut child);
    // SIGKILL: no cleanup, requests in flight are lost mid-answer.
    child.kill().unwrap();
    child.wait().unwrap();
    let first = ok_ids(&std::fs::read_to_string(&out).unwrap());
    assert!(first.len() < n, "killed before the end: {}", first.len());

    let o = rig.run(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_each_id_once(&out, n);
    // The second run asked only for what the first did not finish.
    let (_, served, rate_limited) = totals(&rig.stats());
    assert_eq!(rate_limited, 0);
    assert!(served >= n as u64 && served <= n as u64 + 3, "{served}");

    let db = rota::store::db::Db::open(&rig.db_path()).unwrap();
    assert_eq!(db.integrity_check().unwrap(), "ok");
}
