//! Users and sessions.

use crate::fixtures::*;
use polis_base::ErrorKind;
use polis_store::DynStore;
use time::Duration;

pub async fn users_round_trip_and_are_found_by_username(store: DynStore) {
    let op = user("u-2", "ivana.petrova@kazanlak");
    let root = admin("u-1", "admin");
    store.create_user(&op, Some(&audit("create", "user", "u-2", Some("kazanlak"), 1))).await.expect("op");
    store.create_user(&root, None).await.expect("admin");
    assert_eq!(store.list_users().await.expect("list"), vec![root.clone(), op.clone()]);
    assert_eq!(store.user_by_username("ivana.petrova@kazanlak").await.expect("find"), Some(op));
    assert_eq!(store.user_by_username("admin").await.expect("find"), Some(root));
    assert_eq!(store.user_by_username("Admin").await.expect("find"), None, "usernames match exactly");
    assert_eq!(store.user_by_username("nobody").await.expect("find"), None);
    assert_eq!(store.list_audit(None, 10).await.expect("audit").len(), 1);
}

pub async fn usernames_and_user_ids_are_unique(store: DynStore) {
    store.create_user(&user("u-1", "georgi"), None).await.expect("first");

    let e =
        store.create_user(&user("u-2", "georgi"), Some(&audit("create", "user", "u-2", None, 1))).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);
    assert_eq!(e.details[0].field, "username", "{e:?}");

    let e = store.create_user(&user("u-1", "someone-else"), None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);
    assert_eq!(e.details[0].field, "id", "{e:?}");

    assert_eq!(store.list_users().await.expect("list").len(), 1);
    assert!(store.list_audit(None, 10).await.expect("audit").is_empty(), "no audit for a refused user");
}

pub async fn sessions_last_until_they_expire_or_are_deleted(store: DynStore) {
    let u = user("u-1", "maria");
    store.create_user(&u, None).await.expect("user");
    let expires = at_ms(T0) + Duration::hours(8);
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    store.create_session(hash, &u.id, expires).await.expect("session");

    let now = expires - Duration::milliseconds(1);
    assert_eq!(store.session_user(hash, now).await.expect("lookup"), Some(u.clone()));
    assert_eq!(store.session_user(hash, expires).await.expect("lookup"), None, "expired at expires_at");
    assert_eq!(store.session_user(hash, expires + Duration::days(1)).await.expect("lookup"), None);
    assert_eq!(store.session_user("unknown", now).await.expect("lookup"), None);

    let e = store.create_session(hash, &u.id, expires).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);

    store.delete_session(hash).await.expect("logout");
    assert_eq!(store.session_user(hash, now).await.expect("lookup"), None, "gone after logout");
    store.delete_session(hash).await.expect("logging out twice is fine");

    // Expired sessions are purged; live ones stay.
    let (old, live) = ("a".repeat(64), "b".repeat(64));
    store.create_session(&old, &u.id, expires).await.expect("session");
    store.create_session(&live, &u.id, expires + Duration::hours(1)).await.expect("session");
    assert_eq!(store.purge_sessions(expires).await.expect("purge"), 1);
    assert_eq!(store.session_user(&live, expires).await.expect("lookup"), Some(u.clone()));
    assert_eq!(store.purge_sessions(expires).await.expect("purge again"), 0);
}

pub async fn a_session_needs_an_existing_user(store: DynStore) {
    let e = store.create_session("abc", &id("ghost"), at_ms(T0)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e:?}");
}

/// An administrator's change of a user is saved with its audit records; disabling ends the
/// user's sessions in the same transaction, and a disabled user's session never authenticates.
pub async fn a_disabled_user_has_no_session_and_changes_are_audited(store: DynStore) {
    let u = user("u-1", "leaving");
    let other = user("u-2", "staying");
    store.create_user(&u, None).await.expect("user");
    store.create_user(&other, None).await.expect("user");
    let expires = at_ms(T0) + Duration::hours(8);
    let now = at_ms(T0) + Duration::hours(1);
    let (h1, h2, h3) = ("1".repeat(64), "2".repeat(64), "3".repeat(64));
    store.create_session(&h1, &u.id, expires).await.expect("session");
    store.create_session(&h2, &u.id, expires).await.expect("session");
    store.create_session(&h3, &other.id, expires).await.expect("session");
    store.record_login(&u.id, now).await.expect("login");
    let stamped = store.user(&u.id).await.expect("find").expect("exists");
    assert_eq!(stamped.last_login_at, Some(now));

    // A new role keeps the sessions (and the new role shows in them at once).
    let promoted = polis_domain::User { role: polis_domain::Role::Supervisor, ..stamped.clone() };
    let a1 = audit("user.update", "user", "u-1", Some("kazanlak"), 1);
    store.update_user(&promoted, false, std::slice::from_ref(&a1)).await.expect("update");
    assert_eq!(
        store.session_user(&h1, now).await.expect("lookup").map(|x| x.role),
        Some(polis_domain::Role::Supervisor)
    );

    // Disabled: no session works, even one created afterwards behind its back.
    let disabled = polis_domain::User { disabled: true, ..promoted.clone() };
    let a2 = audit("user.disable", "user", "u-1", Some("kazanlak"), 2);
    store.update_user(&disabled, true, std::slice::from_ref(&a2)).await.expect("disable");
    assert_eq!(store.session_user(&h1, now).await.expect("lookup"), None);
    assert_eq!(store.session_user(&h2, now).await.expect("lookup"), None);
    store.create_session(&"4".repeat(64), &u.id, expires).await.expect("session");
    assert_eq!(store.session_user(&"4".repeat(64), now).await.expect("lookup"), None, "disabled users have no session");
    assert_eq!(store.session_user(&h3, now).await.expect("lookup"), Some(other.clone()), "others keep theirs");
    assert_eq!(store.user(&u.id).await.expect("find"), Some(disabled.clone()));
    let log: Vec<_> = store.list_audit(None, 10).await.expect("audit").into_iter().map(|e| e.record).collect();
    assert_eq!(log, vec![a2, a1]);

    let e = store.update_user(&user("ghost", "ghost"), true, &[]).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(store.user(&id("ghost")).await.expect("find"), None);
}

pub async fn tickets_are_taken_once_and_expire(store: DynStore) {
    use polis_store::{Ticket, TicketPurpose};
    let now = at_ms(T0);
    let events = Ticket {
        hash: "e".repeat(64),
        session: "s".repeat(64),
        purpose: TicketPurpose::Events,
        expires: now + Duration::seconds(30),
    };
    let clip = Ticket {
        hash: "p".repeat(64),
        session: "s".repeat(64),
        purpose: TicketPurpose::Playback {
            camera: polis_domain::Id::from_trusted("cam-1"),
            from: now - Duration::minutes(5),
            to: now,
        },
        expires: now + Duration::minutes(10),
    };
    store.put_ticket(&events, now).await.expect("events ticket");
    store.put_ticket(&clip, now).await.expect("playback ticket");

    // A one-time ticket: taken once, then gone.
    assert_eq!(store.take_ticket(&events.hash, now).await.expect("take"), Some(events.clone()));
    assert_eq!(store.take_ticket(&events.hash, now).await.expect("take again"), None, "used");
    // A playback ticket serves many requests until it expires.
    assert_eq!(store.ticket(&clip.hash, now).await.expect("read"), Some(clip.clone()));
    assert_eq!(store.ticket(&clip.hash, now + Duration::minutes(1)).await.expect("read"), Some(clip.clone()));
    assert_eq!(store.ticket(&clip.hash, clip.expires).await.expect("read"), None, "expired at expires");
    // An expired one-time ticket does not open anything, and storing a ticket forgets it.
    let late = Ticket { hash: "l".repeat(64), expires: now + Duration::seconds(1), ..events.clone() };
    store.put_ticket(&late, now).await.expect("late ticket");
    assert_eq!(store.take_ticket(&late.hash, now + Duration::seconds(2)).await.expect("take late"), None);
    store.put_ticket(&events, clip.expires).await.expect("a later ticket");
    assert_eq!(store.ticket(&clip.hash, now).await.expect("read"), None, "expired tickets are forgotten");
    assert_eq!(store.take_ticket("unknown", now).await.expect("take unknown"), None);
}
