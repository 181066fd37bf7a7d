//! The store conformance suite: the same cases against every store.

#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use powertools_core::Env;
use powertools_idempotency::{Idempotency, IdempotencyError, PutOutcome, Record, Status, Store};
use serde_json::{Value, json};

pub const NOW_MS: u64 = 1_795_268_547_000;

pub fn claim(key: &str, now_ms: u64, in_progress_ms: u64) -> Record {
    Record {
        key: key.to_owned(),
        status: Status::InProgress,
        expiration: now_ms / 1_000 + 3_600,
        in_progress_expiration: Some(now_ms + in_progress_ms),
        data: None,
        format: powertools_idempotency::RecordFormat::Python,
        validation: Some("v1".to_owned()),
    }
}

/// Runs every case against `store`; keys are prefixed with `run` so runs do not collide.
pub async fn conformance(store: &dyn Store, run: &str) {
    let key = |name: &str| format!("{run}.conformance#{name}");

    // An absent key is claimed; a second claim gets the first record back.
    let first = claim(&key("a"), NOW_MS, 30_000);
    assert_eq!(
        store.put_if_absent_or_expired(&first, NOW_MS).await.ok(),
        Some(PutOutcome::Claimed)
    );
    let second = claim(&key("a"), NOW_MS + 1, 30_000);
    match store.put_if_absent_or_expired(&second, NOW_MS + 1).await {
        Ok(PutOutcome::Exists(existing)) => assert_eq!(existing, first),
        other => panic!("second claim: {other:?}"),
    }
    assert_eq!(store.get(&key("a")).await.unwrap(), Some(first.clone()));

    // Completion replaces the record; a completed, live record is not claimable.
    let completed = Record {
        status: Status::Completed,
        data: Some("{\"ok\":true}".to_owned()),
        format: powertools_idempotency::RecordFormat::Python,
        ..first.clone()
    };
    assert!(store.update(&completed).await.is_ok());
    assert_eq!(store.get(&key("a")).await.unwrap(), Some(completed.clone()));
    match store.put_if_absent_or_expired(&second, NOW_MS + 2).await {
        Ok(PutOutcome::Exists(existing)) => assert_eq!(existing, completed),
        other => panic!("claim over a completed record: {other:?}"),
    }

    // After its expiration, a record may be claimed again.
    let later = NOW_MS + 3_601_000;
    assert_eq!(
        store
            .put_if_absent_or_expired(&claim(&key("a"), later, 30_000), later)
            .await
            .ok(),
        Some(PutOutcome::Claimed)
    );

    // Expiry is decided in whole epoch seconds (as DynamoDB's condition and Powertools for
    // Python compare): a record is live through the last millisecond of its expiration second.
    let expiration = NOW_MS / 1_000 + 60;
    let boundary = Record {
        status: Status::Completed,
        data: Some("1".to_owned()),
        format: powertools_idempotency::RecordFormat::Python,
        expiration,
        ..claim(&key("e"), NOW_MS, 30_000)
    };
    assert_eq!(
        store.put_if_absent_or_expired(&boundary, NOW_MS).await.ok(),
        Some(PutOutcome::Claimed)
    );
    for now in [expiration * 1_000, expiration * 1_000 + 999] {
        assert!(!boundary.is_expired(now), "live at {now}");
        match store
            .put_if_absent_or_expired(&claim(&key("e"), now, 30_000), now)
            .await
        {
            Ok(PutOutcome::Exists(existing)) => assert_eq!(existing, boundary, "at {now}"),
            other => panic!("claim at {now}, in the record's last second: {other:?}"),
        }
    }
    let after = (expiration + 1) * 1_000;
    assert!(boundary.is_expired(after));
    assert_eq!(
        store
            .put_if_absent_or_expired(&claim(&key("e"), after, 30_000), after)
            .await
            .ok(),
        Some(PutOutcome::Claimed)
    );

    // An in-progress record blocks until its in-progress expiry, then may be claimed.
    let stuck = claim(&key("b"), NOW_MS, 10_000);
    assert_eq!(
        store.put_if_absent_or_expired(&stuck, NOW_MS).await.ok(),
        Some(PutOutcome::Claimed)
    );
    assert!(matches!(
        store
            .put_if_absent_or_expired(&claim(&key("b"), NOW_MS + 9_999, 10_000), NOW_MS + 9_999)
            .await,
        Ok(PutOutcome::Exists(_))
    ));
    assert_eq!(
        store
            .put_if_absent_or_expired(&claim(&key("b"), NOW_MS + 10_001, 10_000), NOW_MS + 10_001)
            .await
            .ok(),
        Some(PutOutcome::Claimed)
    );

    // Deleted records are gone and claimable.
    assert!(store.delete(&key("b")).await.is_ok());
    assert_eq!(store.get(&key("b")).await.unwrap(), None);
    assert_eq!(
        store
            .put_if_absent_or_expired(&claim(&key("b"), NOW_MS, 1), NOW_MS)
            .await
            .ok(),
        Some(PutOutcome::Claimed)
    );

    // A record without an in-progress expiry blocks until it expires.
    let mut no_deadline = claim(&key("c"), NOW_MS, 0);
    no_deadline.in_progress_expiration = None;
    assert_eq!(
        store
            .put_if_absent_or_expired(&no_deadline, NOW_MS)
            .await
            .ok(),
        Some(PutOutcome::Claimed)
    );
    assert!(matches!(
        store
            .put_if_absent_or_expired(&claim(&key("c"), NOW_MS + 60_000, 1), NOW_MS + 60_000)
            .await,
        Ok(PutOutcome::Exists(_))
    ));
}

/// Fifty concurrent calls with the same payload over `store` (on a multi-threaded runtime):
/// the handler body runs exactly once; every other call replays its response or is refused as
/// in progress. Keys are prefixed with `run` so runs do not collide.
pub async fn fifty_concurrent_duplicates_run_the_handler_once(
    store: impl Store + 'static,
    run: &str,
) {
    let idem = Idempotency::builder(store)
        .env(Env::from_pairs([(
            "AWS_LAMBDA_FUNCTION_NAME",
            "orders-api",
        )]))
        .key_prefix(format!("{run}.concurrent"))
        .event_key_jmespath("powertools_json(body)")
        .build()
        .expect("a valid configuration");
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let idem = idem.clone();
            let runs = Arc::clone(&runs);
            tokio::spawn(async move {
                idem.run(&json!({"body": "{\"sku\":\"A\"}"}), || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, String>(json!({"order_id": "o-1"}))
                })
                .await
            })
        })
        .collect();
    let (mut ok, mut in_progress) = (0, 0);
    for task in tasks {
        match task.await.expect("the task ran to its end") {
            Ok(response) => {
                assert_eq!(response, json!({"order_id": "o-1"}));
                ok += 1;
            }
            Err(IdempotencyError::AlreadyInProgress { .. }) => in_progress += 1,
            Err(other) => panic!("neither a response nor in progress: {other:?}"),
        }
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the handler body ran exactly once"
    );
    assert_eq!(ok + in_progress, 50);
    assert!(ok >= 1);
}

/// `depth` arrays nested in each other around `1`.
pub fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!([inner]))
}

/// Text that gzip cannot shrink much (a fixed xorshift sequence over 64 characters).
pub fn incompressible(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state % 64) as usize] as char
        })
        .collect()
}
