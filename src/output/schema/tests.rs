//! The table against the payloads: a sample of every kind (output/samples.rs: each
//! optional field present in one of them) is written as a JSON line, and the fields it
//! has are the fields the table lists for it, both ways.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::*;
use crate::event::{Family, Named};
use crate::output::Printer;
use crate::output::json::Json;
use crate::output::samples;

/// Every sample's line: each kind's fields, over all its samples.
fn fields_written() -> BTreeMap<(Family, String), BTreeSet<String>> {
    let mut lines = Vec::new();
    for ev in &samples::events() {
        let mut v = Vec::new();
        Json::new(&mut v).event(Duration::ZERO, ev).expect("vec");
        lines.push((ev.visit(Named).0, v));
    }
    let families = [Family::Bench, Family::Bench, Family::Pipeline];
    lines.extend(families.into_iter().zip(samples::other_lines()));
    let mut seen: BTreeMap<(Family, String), BTreeSet<String>> = BTreeMap::new();
    for (family, l) in lines {
        let text = String::from_utf8(l).expect("utf-8");
        // `v`, `event`, `t` first, in that order.
        assert!(text.starts_with("{\"v\":1,\"event\":\""), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let name = v["event"].as_str().expect("event").to_owned();
        let after = format!("\"event\":\"{name}\",\"t\":0.0,");
        assert!(text.contains(&after), "{text}");
        let keys = v.as_object().expect("an object").keys().cloned();
        seen.entry((family, name)).or_default().extend(keys);
    }
    seen
}

#[test]
fn every_kind_writes_the_fields_the_table_lists() {
    let mut seen = fields_written();
    for k in KINDS {
        let key = (k.family, k.event.to_owned());
        let written = seen
            .remove(&key)
            .unwrap_or_else(|| panic!("no sample of {:?} {}", k.family, k.event));
        let mut listed: BTreeSet<String> = COMMON.iter().map(|(f, _)| (*f).to_owned()).collect();
        if k.family == Family::Relay {
            listed.extend(RELAY_COMMON.iter().map(|(f, _)| (*f).to_owned()));
        }
        listed.extend(k.fields.iter().map(|(f, _)| (*f).to_owned()));
        assert_eq!(
            written, listed,
            "{:?} {}: written vs listed",
            k.family, k.event
        );
    }
    assert!(seen.is_empty(), "kinds not in the table: {seen:?}");
}

#[test]
fn no_kind_twice_and_no_field_twice() {
    for (i, k) in KINDS.iter().enumerate() {
        assert!(
            !KINDS[..i]
                .iter()
                .any(|o| o.family == k.family && o.event == k.event),
            "{} listed twice",
            k.event
        );
        for (j, (f, _)) in k.fields.iter().enumerate() {
            assert!(
                !k.fields[..j].iter().any(|(o, _)| o == f),
                "{}: {f} listed twice",
                k.event
            );
        }
    }
}
