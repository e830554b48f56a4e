//! Event retention and event history over real sockets, across every transport x serializer,
//! with one, two and three shards. Where a topic's retained event or a history rule's events are
//! kept is computed with the router's `home_shard`, and the publisher and the reader sit on the
//! other shards ([`StoreRouter::around`]): with three shards publisher, reader and keeping shard
//! all differ, with two both clients are remote to it.
//!
//! "Nothing else was retained" is shown without sleeping: after a get_retained SUBSCRIBE the
//! client calls `wamp.session.count`, which asks every shard after the retained events were asked
//! for; its RESULT comes after them ([`retained_until_sentinel`]).
//! A history query sees every publication the publisher made before a retained, acknowledged
//! publication to a topic kept on the rule's shard (one `Keep` per shard, in order, answered
//! before PUBLISHED): the tests end their publications with one.
//!
//! The routers with small store limits are the tests' own (the limits are per shard, across
//! realms, so matrix cells could not share one).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::meta::{meta_err, INVALID_ARGUMENT};
use common::pubsub::{names, published, sessions, tag_of, W};
use common::rpc::assert_wire;
use common::store::*;
use common::*;
use wampyard::codec::{Payload, Serializer};
use wampyard::wamp::{Dict, Id, MatchPolicy, Message, Value};

// ---------------------------------------------------------------------------------------------
// The handshake and option types

#[test]
fn welcome_announces_event_retention_and_event_history() {
    store_matrix(|r, kind, ser| {
        let (_, details) = meta::join_welcome(r.at(0), On::First, kind, ser, REALM, None);
        let features = broker_features(&details);
        assert_eq!(features.get_bool("event_retention"), Some(true), "{features:?}");
        assert_eq!(features.get_bool("event_history"), Some(true), "{features:?}");
    });
}

#[test]
fn retain_and_get_retained_that_are_not_booleans_get_invalid_argument() {
    store_matrix(|r, kind, ser| {
        let topic = format!("com.ret.types.{}", cell(kind, ser));
        let mut c = r.join(0, kind, ser);
        let reply = pubsub::publish_tagged(&mut c, &topic, Dict::new().with("retain", "yes"), "x");
        assert!(matches!(&reply, Message::Error(e) if e.error == INVALID_ARGUMENT), "{reply:?}");
        let request = c.request();
        let options = Dict::new().with("get_retained", 1u64);
        c.send(&Message::Subscribe(wampyard::wamp::message::Subscribe { request, options, topic: topic.clone() }));
        assert_eq!(error_of(c.recv(), codes::SUBSCRIBE), INVALID_ARGUMENT);
        // Nothing was retained and the session goes on.
        let (_, got) = subscribe_and_collect(&mut c, &topic, get_retained());
        assert!(got.is_empty(), "{got:?}");
    });
}

// ---------------------------------------------------------------------------------------------
// Retained events

#[test]
fn a_retained_event_reaches_later_get_retained_subscribers_whichever_shards_publish_keep_and_read() {
    store_matrix(|r, kind, ser| {
        let n = r.shards();
        for home in 0..n {
            for p_at in 0..n {
                for s_at in 0..n {
                    let base = format!("com.ret.reach.{}.h{home}p{p_at}s{s_at}.t", cell(kind, ser));
                    let topic = r.topic_on(&base, home);
                    // A subscriber already there, on the publisher's shard, gets it live, unmarked.
                    let mut live = r.join(p_at, kind, ser);
                    let live_sub = live.subscribe(&topic, Dict::new());
                    let mut p = r.join(p_at, kind, ser);
                    let kwargs = Dict::new().with("k", "v").with("n", 7u64);
                    let payload = Payload::Values { args: rich_args(), kwargs: Some(kwargs) };
                    let request = p.publish(&topic, retain().with("acknowledge", true), payload.clone());
                    let publication = match p.recv() {
                        Some(Message::Published(x)) if x.request == request => x.publication,
                        other => panic!("expected PUBLISHED, got {other:?}"),
                    };
                    let e = live.event();
                    assert_eq!((e.subscription, e.publication), (live_sub, publication));
                    assert!(e.details.is_empty(), "a live event is not marked retained: {:?}", e.details);
                    // The retained event outlives its publisher's session.
                    p.goodbye();

                    let mut s = r.join(s_at, kind, ser);
                    let (sub, got) = subscribe_and_collect(&mut s, &topic, get_retained());
                    assert_eq!(sub, live_sub, "one subscription per topic");
                    assert_eq!(got.len(), 1, "home {home}, publisher {p_at}, subscriber {s_at}: {got:?}");
                    assert_eq!((got[0].subscription, got[0].publication), (sub, publication));
                    assert_eq!(got[0].details, Dict::new().with("retained", true));
                    assert_eq!(values(&got[0].payload), values(&payload));

                    // A second subscriber on that shard (the subscription is local there now).
                    let mut s2 = r.join(s_at, kind, ser);
                    let (_, got) = subscribe_and_collect(&mut s2, &topic, get_retained());
                    assert_eq!(tagged(&got).len(), 1, "{got:?}");
                    assert_eq!(got[0].publication, publication);

                    // Without get_retained, or with it false, nothing is sent.
                    for options in [Dict::new(), Dict::new().with("get_retained", false)] {
                        let mut plain = r.join(s_at, kind, ser);
                        let (_, got) = subscribe_and_collect(&mut plain, &topic, options);
                        assert!(got.is_empty(), "{got:?}");
                    }
                }
            }
        }
    });
}

#[test]
fn only_the_latest_retained_event_of_a_topic_is_kept_and_a_plain_publication_leaves_it() {
    store_matrix(|r, kind, ser| {
        let home = r.shards() / 2;
        let (p_at, s_at) = r.around(home);
        let topic = r.topic_on(&format!("com.ret.latest.{}.t", cell(kind, ser)), home);
        let mut p1 = r.join(p_at, kind, ser);
        let mut p2 = r.join(s_at, kind, ser);
        published(&mut p1, &topic, retain(), "first");
        published(&mut p2, &topic, retain(), "second");
        let third = published(&mut p1, &topic, retain(), "third");
        published(&mut p2, &topic, Dict::new(), "plain");
        published(&mut p2, &topic, retain().with("retain", false), "retain-false");
        let mut s = r.join(s_at, kind, ser);
        let (_, got) = subscribe_and_collect(&mut s, &topic, get_retained());
        assert_eq!(tagged(&got), vec![("third".to_owned(), third)]);
    });
}

#[test]
fn a_pattern_subscription_gets_the_retained_event_of_every_matching_topic_with_its_topic() {
    store_matrix(|r, kind, ser| {
        let base = format!("com.ret.pattern.{}", cell(kind, ser));
        let mut p = r.join(0, kind, ser);
        let mut kept = Vec::new();
        for shard in 0..r.shards() {
            for (second, last) in [("a", "x"), ("b", "y")] {
                let topic = r.topic_on_with(|i| format!("{base}.{second}{i}.{last}"), shard);
                let id = published(&mut p, &topic, retain(), &topic);
                kept.push((topic, id));
            }
        }
        published(&mut p, &format!("com.ret.elsewhere.{}.a.x", cell(kind, ser)), retain(), "elsewhere");
        kept.sort();
        let last = r.shards() - 1;
        for (pattern, policy, wanted) in [
            (base.clone(), "prefix", kept.clone()),
            (format!("{base}..x"), "wildcard", kept.iter().filter(|(t, _)| t.ends_with(".x")).cloned().collect()),
        ] {
            let mut s = r.join(last, kind, ser);
            let (sub, got) = subscribe_and_collect(&mut s, &pattern, get_retained_matching(policy));
            let mut seen: Vec<(String, Id)> = got
                .iter()
                .map(|e| {
                    assert_eq!(e.subscription, sub);
                    assert_eq!(e.details.get_bool("retained"), Some(true), "{e:?}");
                    let topic = e.details.get_str("topic").unwrap_or_else(|| panic!("details.topic: {e:?}"));
                    assert_eq!(tag_of(e), topic, "each event is its own topic's");
                    (topic.to_owned(), e.publication)
                })
                .collect();
            seen.sort();
            assert_eq!(seen, wanted, "{policy} subscription {pattern}");
        }
    });
}

#[test]
fn retained_events_reach_only_the_subscribers_the_publication_lists_and_exclude_me_admit() {
    store_matrix(|r, kind, ser| {
        let n = r.shards();
        let base = format!("com.ret.lists.{}", cell(kind, ser));
        let mut alice = r.join_as(0, kind, ser, Some("alice"));
        let mut bob = r.join_as(n - 1, kind, ser, Some("bob"));
        let mut carol = r.join_as(n / 2, kind, ser, None);
        let mut p = r.join_as(0, kind, ser, Some("pub"));
        let cases: Vec<(&str, Dict, [bool; 4])> = vec![
            ("eligible", Dict::new().with("eligible", sessions(&[&alice])), [true, false, false, false]),
            ("exclude", Dict::new().with("exclude", sessions(&[&alice])), [false, true, true, false]),
            ("eligible_authid", Dict::new().with("eligible_authid", names(&["bob"])), [false, true, false, false]),
            ("exclude_authid", Dict::new().with("exclude_authid", names(&["bob"])), [true, false, true, false]),
            (
                "eligible_authrole",
                Dict::new().with("eligible_authrole", names(&["anonymous"])),
                [true, true, true, false],
            ),
            ("exclude_authrole", Dict::new().with("exclude_authrole", names(&["anonymous"])), [false; 4]),
            (
                "combined",
                Dict::new().with("eligible", sessions(&[&alice, &bob])).with("exclude_authid", names(&["bob"])),
                [true, false, false, false],
            ),
            ("empty", Dict::new().with("eligible", Value::List(Vec::new())), [false; 4]),
            ("me", Dict::new().with("exclude_me", false), [true; 4]),
        ];
        let mut topics = Vec::new();
        for (i, (case, options, _)) in cases.iter().enumerate() {
            let topic = r.topic_on(&format!("{base}.{case}."), i % n);
            let mut options = options.clone();
            options.insert("retain", true);
            published(&mut p, &topic, options, case);
            topics.push(topic);
        }
        let mut clients = [&mut alice, &mut bob, &mut carol, &mut p];
        for (who, c) in clients.iter_mut().enumerate() {
            for ((case, _, admitted), topic) in cases.iter().zip(&topics) {
                let (_, got) = subscribe_and_collect(c, topic, get_retained());
                let want: Vec<String> = if admitted[who] { vec![(*case).to_owned()] } else { Vec::new() };
                assert_eq!(sorted_tags(&got), want, "subscriber {who} of {case}");
            }
            // A pattern subscription is filtered the same way.
            let (_, got) = subscribe_and_collect(c, &base, get_retained_matching("prefix"));
            let mut want: Vec<String> =
                cases.iter().filter(|(_, _, a)| a[who]).map(|(case, _, _)| (*case).to_owned()).collect();
            want.sort();
            assert_eq!(sorted_tags(&got), want, "pattern subscriber {who}");
        }
        // The latest retained event is the only one: a listed one hides the open one before it.
        let topic = r.topic_on(&format!("com.ret.replaced.{}.", cell(kind, ser)), 0);
        published(&mut p, &topic, retain(), "open");
        published(&mut p, &topic, retain().with("eligible", sessions(&[&alice])), "closed");
        assert_eq!(sorted_tags(&subscribe_and_collect(&mut alice, &topic, get_retained()).1), ["closed"]);
        assert!(subscribe_and_collect(&mut bob, &topic, get_retained()).1.is_empty());
    });
}

#[test]
fn published_comes_after_the_event_is_kept_so_a_subscriber_right_after_gets_it_on_another_shard() {
    store_matrix(|r, kind, ser| {
        let n = r.shards();
        for home in 0..n {
            let topic = r.topic_on(&format!("com.ret.causal.{}.h{home}.t", cell(kind, ser)), home);
            let mut p = r.join(0, kind, ser);
            let mut s = r.join(n - 1, kind, ser);
            for round in 0..20 {
                let tag = format!("v{round}");
                let publication = published(&mut p, &topic, retain(), &tag);
                let sub = subscribe_only(&mut s, &topic, get_retained());
                let e = s.event();
                assert_eq!((e.subscription, e.publication, tag_of(&e)), (sub, publication, tag), "home {home}");
                assert_eq!(e.details.get_bool("retained"), Some(true));
                assert!(matches!(s.unsubscribe(sub), Message::Unsubscribed(_)));
            }
        }
    });
}

#[test]
fn a_retained_publication_without_acknowledge_is_kept_too() {
    store_matrix(|r, kind, ser| {
        let home = r.shards() - 1;
        let (p_at, s_at) = r.around(home);
        let base = format!("com.ret.quiet.{}", cell(kind, ser));
        let topic = r.topic_on(&format!("{base}.t"), home);
        let mut p = r.join(p_at, kind, ser);
        p.publish(&topic, retain(), Payload::args(vec![Value::from("quiet")]));
        // A later acknowledged retain to the same shard is kept after it.
        published(&mut p, &r.topic_on(&format!("{base}.marker"), home), retain(), "marker");
        let mut s = r.join(s_at, kind, ser);
        assert_eq!(sorted_tags(&subscribe_and_collect(&mut s, &topic, get_retained()).1), ["quiet"]);
    });
}

#[test]
fn a_retained_event_on_the_wire_is_marked_retained_with_the_original_publication_and_publisher() {
    store_matrix(|r, kind, ser| {
        let n = r.shards();
        let base = format!("com.ret.wire.{}", cell(kind, ser));
        let mut p = r.join_as(0, kind, ser, Some("alice"));
        let plain = r.topic_on(&format!("{base}.plain"), n / 2);
        let disclosed = r.topic_on(&format!("{base}.disclosed"), n - 1);
        let plain_id = published(&mut p, &plain, retain(), "x");
        let disclosed_id = published(&mut p, &disclosed, retain().with("disclose_me", true), "y");
        let mut s = r.join(n - 1, kind, ser);

        let sub = subscribe_only(&mut s, &plain, get_retained());
        let bytes = s.recv_bytes();
        if ser == Serializer::Json {
            let text = String::from_utf8(bytes.clone().unwrap().to_vec()).unwrap();
            assert!(text.contains("\"retained\":true"), "{text}");
            assert!(text.contains(&plain_id.get().to_string()), "{text}");
        }
        assert_wire(ser, bytes, &retained_event_wire(ser, sub, plain_id, &[], "x"));

        let sub = subscribe_only(&mut s, &disclosed, get_retained());
        let details = [
            ("publisher", W::U(p.session.get())),
            ("publisher_authid", W::S("alice")),
            ("publisher_authrole", W::S("anonymous")),
        ];
        assert_wire(ser, s.recv_bytes(), &retained_event_wire(ser, sub, disclosed_id, &details, "y"));
    });
}

#[test]
fn a_retained_event_is_not_seen_in_another_realm() {
    store_matrix(|r, kind, ser| {
        let topic = r.topic_on(&format!("com.ret.realm.{}.t", cell(kind, ser)), r.shards() - 1);
        let mut p = r.join(0, kind, ser);
        published(&mut p, &topic, retain(), "realm1");
        let mut other = r.join_realm(r.shards() - 1, kind, ser, OTHER_REALM);
        assert!(subscribe_and_collect(&mut other, &topic, get_retained()).1.is_empty());
        let mut same = r.join(r.shards() - 1, kind, ser);
        assert_eq!(sorted_tags(&subscribe_and_collect(&mut same, &topic, get_retained()).1), ["realm1"]);
    });
}

// ---------------------------------------------------------------------------------------------
// Store bounds (routers of the test's own, one cell after the other)

/// Runs `f` for every shard count x transport x serializer on a fresh router with `limits`.
fn own_matrix(limits: &str, f: impl Fn(&StoreRouter, Kind, Serializer)) {
    for shards in 1..=3 {
        for kind in KINDS {
            for ser in Serializer::ALL {
                let r = own_router(shards, limits);
                f(&r, kind, ser);
            }
        }
    }
}

/// The tags of the retained events `c` gets from a prefix subscription to `base`, sorted.
fn retained_under(c: &mut Client, base: &str) -> Vec<String> {
    sorted_tags(&subscribe_and_collect(c, base, get_retained_matching("prefix")).1)
}

#[test]
fn past_retained_max_events_a_shard_keeps_no_new_topic_but_still_replaces_a_kept_one() {
    own_matrix("retained_max_events = 4", |r, kind, ser| {
        let n = r.shards();
        let home = n - 1;
        let (p_at, s_at) = r.around(home);
        let base = "com.ret.flood";
        let mut p = r.join(p_at, kind, ser);
        let flood: Vec<String> = (0..10).map(|i| r.topic_on(&format!("{base}.t{i}."), home)).collect();
        for (i, topic) in flood.iter().enumerate() {
            published(&mut p, topic, retain(), &format!("t{i}"));
        }
        // The limit is per shard: the other shards keep their own.
        let others: Vec<usize> = (0..n).filter(|s| *s != home).collect();
        for s in &others {
            published(&mut p, &r.topic_on(&format!("{base}.other{s}."), *s), retain(), &format!("other{s}"));
        }
        let mut want: Vec<String> = ["t0", "t1", "t2", "t3"].map(str::to_owned).to_vec();
        want.extend(others.iter().map(|s| format!("other{s}")));
        want.sort();
        let mut s = r.join(s_at, kind, ser);
        assert_eq!(retained_under(&mut s, base), want, "{n} shards");
        assert!(subscribe_and_collect(&mut s, &flood[5], get_retained()).1.is_empty(), "t5 was not kept");

        // A kept topic is still replaced; a new one is still refused.
        published(&mut p, &flood[2], retain(), "t2-new");
        published(&mut p, &r.topic_on(&format!("{base}.late."), home), retain(), "late");
        let mut s = r.join(s_at, kind, ser);
        let mut want: Vec<String> = want.into_iter().map(|t| if t == "t2" { "t2-new".to_owned() } else { t }).collect();
        want.sort();
        assert_eq!(retained_under(&mut s, base), want);
    });
}

#[test]
fn past_retained_max_bytes_a_shard_keeps_no_new_topic_until_a_replacement_frees_room() {
    // About 404 bytes per payload of 400 characters, in every serializer: two fit in 1024, three
    // do not.
    own_matrix("max_message_size = 1024\nretained_max_bytes = 1024", |r, kind, ser| {
        let home = r.shards() / 2;
        let (p_at, s_at) = r.around(home);
        let base = "com.ret.bytes";
        let big = |tag: &str| format!("{tag}:{}", "b".repeat(400 - tag.len() - 1));
        let topics: Vec<String> = (0..3).map(|i| r.topic_on(&format!("{base}.b{i}."), home)).collect();
        let mut p = r.join(p_at, kind, ser);
        for (i, topic) in topics.iter().enumerate() {
            published(&mut p, topic, retain(), &big(&format!("b{i}")));
        }
        let small = r.topic_on(&format!("{base}.small."), home);
        published(&mut p, &small, retain(), "small");
        let mut s = r.join(s_at, kind, ser);
        assert_eq!(retained_under(&mut s, base), [big("b0"), big("b1"), "small".to_owned()]);

        // Replacing b0 by a small event frees its room: b2 now fits.
        published(&mut p, &topics[0], retain(), "b0-small");
        published(&mut p, &topics[2], retain(), &big("b2"));
        let mut s = r.join(s_at, kind, ser);
        assert_eq!(retained_under(&mut s, base), ["b0-small".to_owned(), big("b1"), big("b2"), "small".to_owned()]);
    });
}

/// A replacement that would take the shard past `retained_max_bytes` is not kept, and the older
/// event goes too: a later subscriber gets no retained event rather than a stale one.
#[test]
fn a_replacement_past_retained_max_bytes_removes_the_stale_event() {
    let r = own_router(1, "max_message_size = 1024\nretained_max_bytes = 1024");
    let topic = |i: usize| format!("com.ret.grow.t{i}");
    let padded = |tag: &str, len: usize| format!("{tag}:{}", "x".repeat(len - tag.len() - 1));
    let mut p = r.join(0, Kind::RawTcp, Serializer::Json);
    published(&mut p, &topic(0), retain(), &padded("a", 400));
    published(&mut p, &topic(1), retain(), &padded("old", 400));
    // Acknowledged: 404 + 704 bytes would pass the budget of 1024.
    published(&mut p, &topic(1), retain(), &padded("new", 700));
    let mut s = r.join(0, Kind::RawTcp, Serializer::Json);
    let got = sorted_tags(&subscribe_and_collect(&mut s, &topic(1), get_retained()).1);
    assert!(got.is_empty(), "neither the stale event nor the one that did not fit: {got:?}");
    let mut s = r.join(0, Kind::RawTcp, Serializer::Json);
    let kept = sorted_tags(&subscribe_and_collect(&mut s, &topic(0), get_retained()).1);
    assert_eq!(kept.len(), 1, "other topics keep theirs");
}

// ---------------------------------------------------------------------------------------------
// Event history

/// Publishes `tags` to the topics given with them from `p` (acknowledged, `{n: i}` as kwargs),
/// then `barrier` (a topic the rule keeps, homed on the rule's shard) retained: when that is
/// acknowledged the rule's shard has kept them all. Returns the publication ids, barrier last.
fn publish_history(p: &mut Client, events: &[(&str, Dict, String)], barrier: (&str, &str)) -> Vec<Id> {
    let mut ids: Vec<Id> = events
        .iter()
        .enumerate()
        .map(|(i, (topic, options, tag))| publish_event(p, topic, options.clone(), tag, kw_n(i)))
        .collect();
    ids.push(publish_event(p, barrier.0, retain(), barrier.1, kw_n(events.len())));
    ids
}

fn kw_n(i: usize) -> Dict {
    Dict::new().with("n", i as u64)
}

fn publication(id: Id) -> Value {
    Value::UInt(id.get())
}

#[test]
fn get_events_gives_the_most_recent_events_oldest_first_newest_first_with_reverse_and_bounded() {
    store_matrix(|r, kind, ser| {
        let rule = rule_topic("order", kind, ser);
        let (p_at, s_at) = r.around(r.home(&rule, MatchPolicy::Exact));
        let mut p = r.join(p_at, kind, ser);
        let events: Vec<(&str, Dict, String)> = (1..8).map(|i| (rule.as_str(), Dict::new(), format!("e{i}"))).collect();
        let ids = publish_history(&mut p, &events, (&rule, "e8"));
        let id = |i: usize| ids[i - 1];
        let e = |range: &[usize]| range.iter().map(|i| format!("e{i}")).collect::<Vec<_>>();

        let mut reader = r.join(s_at, kind, ser);
        let sub = reader.subscribe(&rule, Dict::new());
        // The rule keeps 5; the default limit is 10.
        let all = get_events(&mut reader, sub, Dict::new());
        assert_eq!(entry_tags(&all), e(&[4, 5, 6, 7, 8]));
        let now = time::OffsetDateTime::now_utc();
        for (i, entry) in (4..=8).zip(&all) {
            let mut keys: Vec<&str> = entry.iter().map(|(k, _)| k).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["args", "kwargs", "publication", "subscription", "timestamp", "topic"], "{entry:?}");
            assert_eq!(entry.get("subscription"), Some(&Value::UInt(sub.get())));
            assert_eq!(entry.get("publication"), Some(&publication(id(i))));
            assert_eq!(entry.get_str("topic"), Some(rule.as_str()));
            assert_eq!(entry.get("kwargs"), Some(&Value::Dict(kw_n(i - 1))));
            let age = now - timestamp(entry);
            assert!(age.whole_seconds().abs() < 60, "timestamp {:?} is the publication's wall-clock time", entry);
        }
        let times: Vec<_> = all.iter().map(timestamp).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first: {times:?}");

        // Positional limit.
        let payload = Payload::args(vec![Value::UInt(sub.get()), Value::UInt(2)]);
        let (args, _) = meta::meta(&mut reader, GET_EVENTS, payload).unwrap();
        assert_eq!(entry_tags(&entries(&args)), e(&[7, 8]));

        let d = Dict::new;
        let cases: Vec<(Dict, Vec<String>)> = vec![
            (d().with("limit", 3u64), e(&[6, 7, 8])),
            (d().with("limit", 3u64).with("reverse", true), e(&[8, 7, 6])),
            (d().with("reverse", true), e(&[8, 7, 6, 5, 4])),
            (d().with("reverse", false), e(&[4, 5, 6, 7, 8])),
            (d().with("limit", 0u64), e(&[])),
            (d().with("from_publication", publication(id(5))), e(&[5, 6, 7, 8])),
            (d().with("after_publication", publication(id(5))), e(&[6, 7, 8])),
            (d().with("before_publication", publication(id(7))), e(&[4, 5, 6])),
            (d().with("until_publication", publication(id(7))), e(&[4, 5, 6, 7])),
            (
                d().with("from_publication", publication(id(5))).with("until_publication", publication(id(6))),
                e(&[5, 6]),
            ),
            (
                d().with("after_publication", publication(id(4))).with("before_publication", publication(id(8))),
                e(&[5, 6, 7]),
            ),
            (d().with("from_publication", publication(id(4))).with("limit", 2u64), e(&[7, 8])),
            (d().with("until_publication", publication(id(7))).with("limit", 2u64).with("reverse", true), e(&[7, 6])),
            (d().with("after_publication", publication(id(8))), e(&[])),
            // A bound naming a publication no longer kept selects nothing.
            (d().with("from_publication", publication(id(2))), e(&[])),
            (d().with("topic", rule.as_str()), e(&[4, 5, 6, 7, 8])),
            (d().with("topic", "com.hist.elsewhere"), e(&[])),
        ];
        for (named, want) in cases {
            let shown = format!("{named:?}");
            assert_eq!(entry_tags(&get_events(&mut reader, sub, named)), want, "get_events with {shown}");
        }

        // Time bounds, the expected events computed from the timestamps themselves (two events
        // may share one); an offset other than Z names the same instant.
        let mid = times[2];
        let pick = |keep: &dyn Fn(time::OffsetDateTime) -> bool| -> Vec<String> {
            all.iter().filter(|x| keep(timestamp(x))).map(|x| entry_tags(std::slice::from_ref(x))[0].clone()).collect()
        };
        let time_cases: Vec<(&str, Vec<String>)> = vec![
            ("from_time", pick(&|t| t >= mid)),
            ("after_time", pick(&|t| t > mid)),
            ("before_time", pick(&|t| t < mid)),
            ("until_time", pick(&|t| t <= mid)),
        ];
        assert!(time_cases[0].1.contains(&"e6".to_owned()) && !time_cases[2].1.contains(&"e6".to_owned()));
        for (bound, want) in time_cases {
            for text in [rfc3339_at(mid, 0), rfc3339_at(mid, 2), rfc3339_at(mid, -5)] {
                let got = entry_tags(&get_events(&mut reader, sub, d().with(bound, text.as_str())));
                assert_eq!(got, want, "{bound} = {text}");
            }
        }
        let (first, last) = (times[0] - time::Duration::seconds(3600), times[4] + time::Duration::seconds(3600));
        assert_eq!(
            get_events(&mut reader, sub, d().with("from_time", rfc3339_at(last, 0).as_str())),
            Vec::<Dict>::new()
        );
        assert_eq!(
            get_events(&mut reader, sub, d().with("until_time", rfc3339_at(first, 0).as_str())),
            Vec::<Dict>::new()
        );
        let window =
            d().with("after_time", rfc3339_at(first, 0).as_str()).with("before_time", rfc3339_at(last, 0).as_str());
        assert_eq!(entry_tags(&get_events(&mut reader, sub, window)), e(&[4, 5, 6, 7, 8]));
    });
}

#[test]
fn get_events_of_a_prefix_rule_gives_every_matching_topic_and_topic_narrows_them() {
    store_matrix(|r, kind, ser| {
        let rule = rule_topic("prefix", kind, ser);
        let home = r.home(&rule, MatchPolicy::Prefix);
        let (p_at, s_at) = r.around(home);
        let (a, b) = (format!("{rule}.a"), format!("{rule}.b"));
        let barrier = r.topic_on(&format!("{rule}.z"), home);
        let events = vec![
            (a.as_str(), Dict::new(), "a1".to_owned()),
            (b.as_str(), Dict::new(), "b1".to_owned()),
            (a.as_str(), Dict::new(), "a2".to_owned()),
        ];
        let mut p = r.join(p_at, kind, ser);
        publish_history(&mut p, &events, (&barrier, "z"));
        let outside = format!("com.hist.outside.{}", cell(kind, ser));
        published(&mut p, &outside, Dict::new(), "outside");

        let mut reader = r.join(s_at, kind, ser);
        let sub = reader.subscribe(&rule, Dict::new().with("match", "prefix"));
        let all = get_events(&mut reader, sub, Dict::new());
        assert_eq!(entry_tags(&all), ["a1", "b1", "a2", "z"]);
        let topics: Vec<&str> = all.iter().map(|x| x.get_str("topic").unwrap()).collect();
        assert_eq!(topics, [a.as_str(), b.as_str(), a.as_str(), barrier.as_str()]);
        assert_eq!(entry_tags(&get_events(&mut reader, sub, Dict::new().with("topic", a.as_str()))), ["a1", "a2"]);
        let last_a = Dict::new().with("topic", a.as_str()).with("limit", 1u64);
        assert_eq!(entry_tags(&get_events(&mut reader, sub, last_a)), ["a2"]);

        // Only the subscription of exactly the rule's topic and match has the history.
        for (topic, policy) in [(rule.as_str(), "exact"), (a.as_str(), "prefix"), (a.as_str(), "exact")] {
            let other = reader.subscribe(topic, Dict::new().with("match", policy));
            assert_eq!(get_events(&mut reader, other, Dict::new()), Vec::<Dict>::new(), "{policy} {topic}");
        }
    });
}

#[test]
fn get_events_of_a_wildcard_rule_gives_only_the_matching_topics() {
    store_matrix(|r, kind, ser| {
        let rule = rule_topic("wild", kind, ser);
        let home = r.home(&rule, MatchPolicy::Wildcard);
        let (p_at, s_at) = r.around(home);
        let stem = rule.trim_end_matches("..x").to_owned();
        let barrier = r.topic_on_with(|i| format!("{stem}.z{i}.x"), home);
        let (ax, by, cx) = (format!("{stem}.a.x"), format!("{stem}.b.y"), format!("{stem}.c.x"));
        let events = vec![
            (ax.as_str(), Dict::new(), "a.x".to_owned()),
            (by.as_str(), Dict::new(), "b.y".to_owned()),
            (cx.as_str(), Dict::new(), "c.x".to_owned()),
        ];
        let mut p = r.join(p_at, kind, ser);
        publish_history(&mut p, &events, (&barrier, "z.x"));
        let mut reader = r.join(s_at, kind, ser);
        let sub = reader.subscribe(&rule, Dict::new().with("match", "wildcard"));
        assert_eq!(entry_tags(&get_events(&mut reader, sub, Dict::new())), ["a.x", "c.x", "z.x"]);
    });
}

#[test]
fn history_keeps_no_event_with_session_lists_and_shows_each_reader_what_the_lists_admit() {
    store_matrix(|r, kind, ser| {
        let rule = rule_topic("lists", kind, ser);
        let (p_at, s_at) = r.around(r.home(&rule, MatchPolicy::Exact));
        let mut alice = r.join_as(s_at, kind, ser, Some("alice"));
        let mut bob = r.join_as(p_at, kind, ser, Some("bob"));
        let mut p = r.join_as(p_at, kind, ser, Some("pub"));
        let d = Dict::new;
        let t = rule.as_str();
        let events = vec![
            (t, d(), "plain".to_owned()),
            (t, d().with("eligible", sessions(&[&alice, &bob])), "eligible".to_owned()),
            (t, d().with("exclude", sessions(&[&bob])), "exclude".to_owned()),
            (t, d().with("eligible", Value::List(Vec::new())), "eligible-empty".to_owned()),
            (t, d().with("eligible_authid", names(&["alice"])), "eligible_authid".to_owned()),
            (t, d().with("exclude_authid", names(&["bob"])), "exclude_authid".to_owned()),
            (t, d().with("exclude_authrole", names(&["anonymous"])), "exclude_authrole".to_owned()),
            (t, d().with("disclose_me", true), "disclosed".to_owned()),
            (t, d().with("exclude_me", false), "mine".to_owned()),
        ];
        let ids = publish_history(&mut p, &events, (t, "barrier"));
        let sub = alice.subscribe(t, d());
        let want = ["plain", "eligible_authid", "exclude_authid", "disclosed", "mine", "barrier"];
        let seen = get_events(&mut alice, sub, d());
        assert_eq!(entry_tags(&seen), want, "alice");
        bob.subscribe(t, d());
        assert_eq!(entry_tags(&get_events(&mut bob, sub, d())), ["plain", "disclosed", "mine", "barrier"], "bob");
        // The publisher excluded itself from all but one.
        p.subscribe(t, d());
        assert_eq!(entry_tags(&get_events(&mut p, sub, d())), ["mine"], "the publisher");

        let disclosed = &seen[3];
        assert_eq!(disclosed.get("publication"), Some(&publication(ids[7])));
        assert_eq!(disclosed.get("publisher"), Some(&Value::UInt(p.session.get())), "{disclosed:?}");
        assert_eq!(disclosed.get_str("publisher_authid"), Some("pub"));
        assert_eq!(disclosed.get_str("publisher_authrole"), Some("anonymous"));
        assert_eq!(seen[0].get("publisher"), None, "undisclosed: {:?}", seen[0]);
    });
}

#[test]
fn get_events_for_a_subscription_without_a_history_rule_is_an_empty_list() {
    store_matrix(|r, kind, ser| {
        let topic = format!("com.hist.none.{}", cell(kind, ser));
        let mut c = r.join(0, kind, ser);
        published(&mut c, &topic, retain(), "x");
        let sub = c.subscribe(&topic, Dict::new());
        assert_eq!(get_events(&mut c, sub, Dict::new()), Vec::<Dict>::new());
        let sub = c.subscribe(&rule_topic("order", kind, ser), Dict::new().with("match", "prefix"));
        assert_eq!(get_events(&mut c, sub, Dict::new()), Vec::<Dict>::new());
    });
}

#[test]
fn get_events_for_an_unknown_subscription_is_no_such_subscription() {
    store_matrix(|r, kind, ser| {
        let mut c = r.join(r.shards() - 1, kind, ser);
        assert_eq!(
            try_get_events(&mut c, Id::new(4_503_599_627_370_495).unwrap(), Dict::new()),
            Err(NO_SUCH_SUBSCRIPTION.into())
        );
        // A subscription of realm1 is unknown in realm2.
        let sub = c.subscribe(&rule_topic("bad", kind, ser), Dict::new());
        let mut other = r.join_realm(0, kind, ser, OTHER_REALM);
        assert_eq!(try_get_events(&mut other, sub, Dict::new()), Err(NO_SUCH_SUBSCRIPTION.into()));
    });
}

#[test]
fn get_events_with_arguments_of_the_wrong_type_is_invalid_argument() {
    store_matrix(|r, kind, ser| {
        let rule = rule_topic("bad", kind, ser);
        let mut c = r.join(0, kind, ser);
        let sub = c.subscribe(&rule, Dict::new());
        let id = Value::UInt(sub.get());
        let call = |args: Vec<Value>, kwargs: Option<Dict>| Payload::Values { args, kwargs };
        let d = Dict::new;
        let bad: Vec<(&str, Payload)> = vec![
            ("no subscription", Payload::Empty),
            ("subscription as a string", call(vec![Value::from("1")], None)),
            ("negative subscription", call(vec![Value::Int(-1)], None)),
            ("limit as a string", call(vec![id.clone(), Value::from("10")], None)),
            ("negative limit", call(vec![id.clone()], Some(d().with("limit", Value::Int(-1))))),
            ("fractional limit", call(vec![id.clone()], Some(d().with("limit", Value::Float(1.5))))),
            ("reverse as a string", call(vec![id.clone()], Some(d().with("reverse", "yes")))),
            ("from_time not RFC 3339", call(vec![id.clone()], Some(d().with("from_time", "yesterday")))),
            ("after_time month 13", call(vec![id.clone()], Some(d().with("after_time", "2026-13-01T00:00:00Z")))),
            (
                "before_time without offset",
                call(vec![id.clone()], Some(d().with("before_time", "2026-01-01T00:00:00"))),
            ),
            ("until_time as a number", call(vec![id.clone()], Some(d().with("until_time", 12345u64)))),
            ("topic as a number", call(vec![id.clone()], Some(d().with("topic", 5u64)))),
            ("from_publication as a string", call(vec![id.clone()], Some(d().with("from_publication", "x")))),
            (
                "before_publication negative",
                call(vec![id.clone()], Some(d().with("before_publication", Value::Int(-3)))),
            ),
        ];
        for (what, payload) in bad {
            assert_eq!(meta_err(&mut c, GET_EVENTS, payload), INVALID_ARGUMENT, "{what}");
        }
        // The session goes on.
        assert_eq!(get_events(&mut c, sub, Dict::new()), Vec::<Dict>::new());
    });
}
