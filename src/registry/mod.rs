//! The integration registry: model (`model`), loading with located parse
//! errors (this file), semantic validation (`validate`) and variable layering
//! into per-repo resolved targets (`context`), and the rollout policy
//! (`rollout`: waves, limits, timers, waivers, bundle policies). Pure: takes text, returns
//! values; reading the file is the caller's one line.

pub mod context;
pub mod model;
pub mod rollout;
pub mod shared;
pub mod validate;

pub use context::{ResolvedEnv, ResolvedRepo, resolve};
pub use model::{Delivery, Flag, Registry};
pub use rollout::{BundlePolicy, Rollout, Waiver, WaiverScope, WavePolicy};

use crate::diag::{Diagnostic, Diagnostics};

/// Parses registry JSON. `origin` names the file in messages. Syntax errors,
/// unknown keys and wrong types come back with `file:line:column`. A UTF-8
/// byte order mark at the start (which editors on Windows add) is skipped.
pub fn parse(origin: &str, text: &str) -> Result<Registry, Diagnostics> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // First pass: the whole document, duplicate keys refused at every depth
    // (serde_json keeps the last of two equal keys silently, and the model's
    // free-form `vars` are plain JSON objects). Syntax errors surface here
    // with the same message the typed pass would give.
    let mut de = serde_json::Deserializer::from_str(text);
    serde::de::DeserializeSeed::deserialize(NoDuplicateKeys { path: "" }, &mut de)
        .and_then(|()| de.end())
        .and_then(|()| serde_json::from_str::<Registry>(text))
        .map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    "malformed JSON"
                }
                _ => "invalid registry",
            };
            // serde_json appends " at line L column C"; we lead with the location.
            let msg = e.to_string();
            let msg = msg
                .rsplit_once(" at line ")
                .map(|(m, _)| m.to_string())
                .unwrap_or(msg);
            // serde quotes offending keys and values whole (`unknown
            // field`, `invalid type: string "…"`): cut a huge one.
            Diagnostic::new(
                format!("{origin}:{}:{}", e.line(), e.column()),
                format!("{what}: {}", crate::diag::cut(&msg)),
            )
            .into()
        })
}

/// Walks any JSON value and fails on the first object holding a key twice,
/// naming the key and the object's JSON path (serde_json adds the line and
/// column of the duplicate).
struct NoDuplicateKeys<'a> {
    /// JSON path of the value being walked (`teams.kiwi.vars`); empty at
    /// the top.
    path: &'a str,
}

impl<'de> serde::de::DeserializeSeed<'de> for NoDuplicateKeys<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            let path = format!("{}[{i}]", self.path);
            if seq
                .next_element_seed(NoDuplicateKeys { path: &path })?
                .is_none()
            {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                let within = if self.path.is_empty() {
                    "the top-level object".to_string()
                } else {
                    self.path.to_string()
                };
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key `{}` in {within} (every key of an object must be unique)",
                    crate::diag::cut(&key)
                )));
            }
            let path = json_path(self.path, &key);
            map.next_value_seed(NoDuplicateKeys { path: &path })?;
            seen.insert(key);
        }
        Ok(())
    }
}

/// `parent.key`, or `parent["key"]` when the key is not a plain name.
fn json_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{}]", crate::diag::quote(key)),
    }
}

/// Parses and validates. `known_bundles` are the bundle names found under
/// the templates directory.
pub fn load(origin: &str, text: &str, known_bundles: &[String]) -> Result<Registry, Diagnostics> {
    let registry = parse(origin, text)?;
    validate::validate(origin, &registry, known_bundles).into_result(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTRY: &str = r#"{
  "version": 1,
  "stages": ["dev"],
  "defaults": { "owner": "acme", "vars": { "runner": "ubuntu" } },
  "teams": {
    "kiwi": {
      "owners": { "users": ["kim"] },
      "environments": { "dev": { "account": "123456789012", "region": "eu-west-1", "vars": { "a": 1 } } },
      "repos": [ { "name": "kiwi-app", "vars": { "deep": { "list": [ { "x": 1 } ] } } } ]
    }
  }
}"#;

    fn error(text: &str) -> String {
        parse("registry.json", text)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn duplicate_keys_are_refused_at_every_depth() {
        parse("registry.json", REGISTRY).expect("the base registry parses");
        let cases = [
            (
                r#""runner": "ubuntu""#,
                r#""runner": "ubuntu", "runner": "attacker-runner""#,
                "registry.json:4:71: invalid registry: duplicate key `runner` in defaults.vars",
            ),
            (
                r#""vars": { "a": 1 }"#,
                r#""vars": { "a": 1, "a": 2 }"#,
                "registry.json:8:104: invalid registry: duplicate key `a` in teams.kiwi.environments.dev.vars",
            ),
            (
                r#"{ "x": 1 }"#,
                r#"{ "x": 1, "x": 1 }"#,
                "registry.json:9:82: invalid registry: duplicate key `x` in teams.kiwi.repos[0].vars.deep.list[0]",
            ),
            (
                r#""stages": ["dev"],"#,
                r#""stages": ["dev"], "version": 1,"#,
                "registry.json:3:30: invalid registry: duplicate key `version` in the top-level object",
            ),
            (
                r#""owner": "acme","#,
                r#""owner": "acme", "flags": { "f": true, "f": false },"#,
                "registry.json:4:58: invalid registry: duplicate key `f` in defaults.flags",
            ),
        ];
        for (from, to, expected) in cases {
            let text = REGISTRY.replacen(from, to, 1);
            assert_eq!(
                error(&text),
                format!(
                    "1 problem found; nothing was written:\n  error: {expected} (every key of an object must be unique)\n"
                ),
                "{to}"
            );
        }
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let with_bom = format!("\u{feff}{REGISTRY}");
        let r = parse("registry.json", &with_bom).expect("a BOM is accepted");
        assert_eq!(r.defaults.owner, "acme");
        // Locations are unchanged by the BOM.
        let bad = with_bom.replacen(r#""version": 1,"#, r#""version": 1,,"#, 1);
        assert_eq!(
            error(&bad),
            "1 problem found; nothing was written:\n  \
             error: registry.json:2:16: malformed JSON: key must be a string\n"
        );
    }

    #[test]
    fn a_huge_value_in_a_type_error_is_cut() {
        let huge = "9".repeat(1_000_000);
        let text = REGISTRY.replacen(r#""version": 1"#, &format!(r#""version": "{huge}""#), 1);
        let err = error(&text);
        assert!(err.len() < 400, "{err}");
        assert!(
            err.contains(r#"registry.json:2:1000015: invalid registry: invalid type: string "999"#),
            "{err}"
        );
        assert!(err.ends_with("… (1000037 bytes)\n"), "{err}");
    }

    #[test]
    fn odd_keys_are_quoted_in_the_path() {
        let text = REGISTRY.replacen(r#""runner": "ubuntu""#, r#""a.b": { "k": 1, "k": 2 }"#, 1);
        assert!(
            error(&text).contains(r#"duplicate key `k` in defaults.vars["a.b"]"#),
            "{}",
            error(&text)
        );
    }
}
