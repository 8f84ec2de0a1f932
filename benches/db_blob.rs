//! The cost of one reserve in SQLite: one `transact_blob` (BEGIN IMMEDIATE, read a ~20 KB
//! blob, change it, write it back, COMMIT) on a WAL file database.

use criterion::{Criterion, criterion_group, criterion_main};
use rota::store::db::Db;
use std::hint::black_box;

fn transact_20k(c: &mut Criterion) {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("skipped: no temp dir: {e}");
            return;
        }
    };
    let db = match Db::open(&dir.path().join("rota.db")) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    let seed: Vec<u8> = (0..20 * 1024).map(|i| (i % 251) as u8).collect();
    let _ = db.transact_blob("engine", &mut |_| seed.clone());
    let mut step = |cur: Option<&[u8]>| {
        let mut next = cur.map(<[u8]>::to_vec).unwrap_or_default();
        if let Some(b) = next.first_mut() {
            *b = b.wrapping_add(1);
        }
        next
    };
    c.bench_function("transact_blob 20KB (file, WAL)", |b| {
        b.iter(|| black_box(db.transact_blob("engine", &mut step)))
    });
    c.bench_function("read_blob 20KB (file, WAL)", |b| {
        b.iter(|| black_box(db.read_blob("engine")))
    });
}

criterion_group!(benches, transact_20k);
criterion_main!(benches);
