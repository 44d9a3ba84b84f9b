//! The schema logic over the in-memory store: names, compare and swap, repair, clean-up by search.

use super::*;

fn tokens(access: &str, refresh: &str, who: &str) -> StoredTokens {
    StoredTokens {
        access_token: SecretString::from(access.to_owned()),
        refresh_token: SecretString::from(refresh.to_owned()),
        access_token_expires_at: SystemTime::now() + Duration::from_secs(3600),
        signed_in_as: Some(who.to_owned()),
        saved_at: SystemTime::now(),
    }
}

const MAILBOX: &str = "Reception@Practice.com";

fn access_token(store: &TokenStore) -> String {
    let tokens = store.load_tokens(MAILBOX).unwrap().unwrap();
    tokens.access_token.expose_secret().to_owned()
}

#[test]
fn item_names_follow_the_documented_schema() {
    let key = mailbox_key("  Reception@Practice.COM ");
    assert_eq!(key, "reception@practice.com");
    assert_eq!(manifest_name(&key), "reception@practice.com:tokens");
    assert_eq!(
        part_name(&key, TokenKind::Access, 3, 2),
        "reception@practice.com:access-token:3:2"
    );
    assert_eq!(
        basic_password_name(&key),
        "reception@practice.com:basic-password"
    );
    assert_eq!(
        part_generation(&key, "reception@practice.com:refresh-token:12:3"),
        Some(12)
    );
    assert_eq!(part_generation(&key, "reception@practice.com:tokens"), None);
    assert_eq!(
        part_generation(&key, "reception@practice.com:basic-password"),
        None
    );
    // Another mailbox whose address starts with this one's is not this one's.
    assert_eq!(
        part_generation(&key, "reception@practice.com.au:access-token:1:1"),
        None
    );
}

#[test]
fn a_renewal_is_refused_when_a_sign_in_was_saved_after_it_started() {
    let (store, _) = TokenStore::in_memory();
    store
        .save_sign_in(MAILBOX, &tokens("a1", "r1", "reception@practice.com"))
        .unwrap();
    let started_from = store.load(MAILBOX).unwrap().unwrap().generation;
    // A new sign-in lands while the renewal is at Microsoft.
    store
        .save_sign_in(MAILBOX, &tokens("a2", "r2", "reception@practice.com"))
        .unwrap();
    let lock = store.lock(MAILBOX).unwrap();
    let refused = store.write_generation(
        &lock,
        &tokens("a-old", "r-old", "reception@practice.com"),
        Expect::Generation(started_from),
    );
    assert!(
        matches!(refused, Err(StoreError::Conflict { expected, found, .. }) if expected == started_from && found > started_from),
        "{refused:?}"
    );
    drop(lock);
    let kept = store.load_tokens(MAILBOX).unwrap().unwrap();
    assert_eq!(kept.refresh_token.expose_secret(), "r2");
}

#[test]
fn a_damaged_manifest_is_no_sign_in_to_a_new_one_and_is_repaired() {
    let (store, items) = TokenStore::in_memory();
    let first = store
        .save_sign_in(MAILBOX, &tokens("a1", "r1", "x@practice.com"))
        .unwrap();
    let lock = store.lock(MAILBOX).unwrap();
    store
        .write_raw_for_tests(&lock, "tokens", "{not json")
        .unwrap();
    assert!(matches!(
        store.load(MAILBOX),
        Err(StoreError::Damaged { .. })
    ));
    // A renewal cannot know what it would replace.
    let renewal = store.write_generation(&lock, &tokens("a", "r", "x"), Expect::Generation(1));
    assert!(matches!(
        renewal,
        Err(StoreError::Conflict { found: 0, .. })
    ));
    drop(lock);
    let written = store
        .save_sign_in(MAILBOX, &tokens("a2", "r2", "x@practice.com"))
        .unwrap();
    assert!(
        written.generation > first.generation,
        "past the generation left behind"
    );
    assert_eq!(access_token(&store), "a2");
    let generation = written.generation;
    assert_eq!(
        items.names(),
        [
            format!("reception@practice.com:access-token:{generation}:1"),
            format!("reception@practice.com:refresh-token:{generation}:1"),
            "reception@practice.com:tokens".to_owned(),
        ]
    );
}

#[test]
fn tidy_and_forget_find_parts_of_every_generation_by_search() {
    let (store, items) = TokenStore::in_memory();
    store
        .save_sign_in(MAILBOX, &tokens("a1", "r1", "x"))
        .unwrap();
    store
        .save_sign_in(MAILBOX, &tokens("a2", "r2", "x"))
        .unwrap();
    // Leftovers of killed processes: a whole older generation, and a part of a newer one a writer may be busy with.
    let current = store.load(MAILBOX).unwrap().unwrap().generation;
    let lock = store.lock(MAILBOX).unwrap();
    for name in [
        "access-token:1:1".to_owned(),
        "refresh-token:1:1".to_owned(),
        format!("refresh-token:{}:2", current + 5),
    ] {
        store.write_raw_for_tests(&lock, &name, "old").unwrap();
    }
    drop(lock);
    // Another mailbox's items are never touched.
    store
        .save_sign_in("reception@practice.com.au", &tokens("b", "rb", "y"))
        .unwrap();
    // The newer generation is above the current one: tidy leaves it; `forget` removes it.
    assert_eq!(store.tidy(MAILBOX).unwrap(), 2);
    assert_eq!(access_token(&store), "a2");
    store
        .save_basic_password(MAILBOX, &SecretString::from("Winter2026!"))
        .unwrap();
    let forgotten = store.forget(MAILBOX, false).unwrap();
    assert_eq!(
        forgotten,
        Forgotten {
            items: 4,
            had_sign_in: true,
            had_basic_password: false
        }
    );
    assert!(store.load_basic_password(MAILBOX).unwrap().is_some());
    let forgotten = store.forget(MAILBOX, true).unwrap();
    assert_eq!(forgotten.items, 1);
    assert!(forgotten.had_basic_password);
    assert!(
        items
            .names()
            .iter()
            .all(|name| name.starts_with("reception@practice.com.au:")),
        "{:?}",
        items.names()
    );
}

#[test]
fn forget_removes_a_damaged_sign_in_too() {
    let (store, items) = TokenStore::in_memory();
    store.save_sign_in(MAILBOX, &tokens("a", "r", "x")).unwrap();
    let lock = store.lock(MAILBOX).unwrap();
    store
        .write_raw_for_tests(&lock, "tokens", "garbage")
        .unwrap();
    drop(lock);
    assert_eq!(store.forget(MAILBOX, true).unwrap().items, 3);
    assert!(items.names().is_empty());
}

#[test]
fn generations_never_repeat_even_after_forget() {
    let (store, _) = TokenStore::in_memory();
    let first = store.save_sign_in(MAILBOX, &tokens("a", "r", "x")).unwrap();
    store.forget(MAILBOX, true).unwrap();
    let second = store.save_sign_in(MAILBOX, &tokens("b", "s", "x")).unwrap();
    assert!(
        second.generation > first.generation,
        "a clean-up that read generation {} must not be able to remove the new sign-in's parts",
        first.generation
    );
}

#[test]
fn a_manifest_with_an_impossible_date_is_damage_not_a_crash() {
    let (store, _) = TokenStore::in_memory();
    store.save_sign_in(MAILBOX, &tokens("a", "r", "x")).unwrap();
    let mut manifest = store.manifest(MAILBOX).unwrap().unwrap();
    manifest.access_token_expires_at = u64::MAX;
    let lock = store.lock(MAILBOX).unwrap();
    store
        .write_raw_for_tests(&lock, "tokens", &serde_json::to_string(&manifest).unwrap())
        .unwrap();
    assert!(matches!(
        store.load(MAILBOX),
        Err(StoreError::Damaged { .. })
    ));
}
