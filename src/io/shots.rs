//! The shot-list file of `-shots FILE`: one JSON object per line, each shot's flag overrides
//! (docs/datasets.md). Blank lines and lines whose first non-blank character is `#` are
//! skipped. The keys are kept in the order written, since flags apply in order (`N` then
//! `Na` is not `Na` then `N`); a key written twice in one object is refused.

use crate::error::{Error, Result};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use std::path::Path;

/// Largest shot-list file read (a million shots of a few hundred bytes each, with room).
const MAX_BYTES: u64 = 1 << 30;

/// One shot of the file: its line number (from 1) and its keys and values in order.
#[derive(Clone, Debug, PartialEq)]
pub struct ShotLine {
    pub line: usize,
    pub keys: Vec<(String, Value)>,
}

/// A JSON object whose keys keep their order (serde_json's own map sorts them).
struct OrderedObject(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object of flag overrides, e.g. {\"N\": 7, \"misset\": [10, 20, 30]}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<OrderedObject, A::Error> {
                let mut keys: Vec<(String, Value)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if keys.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format!("the key \"{key}\" is written twice")));
                    }
                    keys.push((key, value));
                }
                Ok(OrderedObject(keys))
            }
        }
        d.deserialize_map(Keys)
    }
}

/// Reads the shots of `path`, refusing (naming the file and line) a line that is not one JSON
/// object; the keys themselves are checked by `dataset::shots`.
pub fn read_shot_lines(path: &Path) -> Result<Vec<ShotLine>> {
    shot_lines_of(path, &super::read_limited(path, MAX_BYTES)?)
}

/// The shots of a file's bytes, read from `path` (for the messages).
pub fn shot_lines_of(path: &Path, bytes: &[u8]) -> Result<Vec<ShotLine>> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::parse(path, "text", format!("not UTF-8 text ({e})")))?;
    parse_shot_lines(text).map_err(|(line, why)| Error::parse(path, format!("line {line}"), why))
}

/// The shots of a file's text, or the first bad line's number and what is wrong with it.
pub fn parse_shot_lines(text: &str) -> std::result::Result<Vec<ShotLine>, (usize, String)> {
    let mut shots = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match serde_json::from_str::<OrderedObject>(trimmed) {
            Ok(OrderedObject(keys)) => shots.push(ShotLine { line: i + 1, keys }),
            Err(e) => return Err((i + 1, format!("not a JSON object of flag overrides: {e}"))),
        }
    }
    Ok(shots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_and_skips_comments() {
        let text = "# a comment\n\n  {\"Na\": 3, \"N\": 7, \"misset\": [1, 2, 3]}\n   # indented comment\n{}\n";
        let shots = parse_shot_lines(text).unwrap();
        assert_eq!(shots.len(), 2);
        assert_eq!(shots[0].line, 3);
        let keys: Vec<&str> = shots[0].keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["Na", "N", "misset"]);
        assert_eq!(shots[1].line, 5);
        assert!(shots[1].keys.is_empty());
    }

    #[test]
    fn refuses_what_is_not_one_object_per_line() {
        for (text, line) in [("{}\n{\"N\": }", 2), ("[1, 2]", 1), ("{\"N\": 1} {\"N\": 2}", 1), ("{\"N\": 1, \"N\": 2}", 1), ("7", 1)] {
            let (at, why) = parse_shot_lines(text).unwrap_err();
            assert_eq!(at, line, "{text}: {why}");
        }
        let (_, why) = parse_shot_lines("{\"N\": 1, \"N\": 2}").unwrap_err();
        assert!(why.contains("twice"), "{why}");
    }
}
