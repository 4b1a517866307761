//! Syntax checks of rendered output: a `.yml`/`.yaml` file must be valid YAML
//! (1.2 semantics, no duplicate keys) and a `.json` file valid JSON, before
//! anything is written anywhere.

use serde::de::IgnoredAny;

use super::bundle::yaml_options;

/// Parses `content` according to the extension of `path`. Other file types
/// pass unchecked. Returns the parser's message on failure.
pub fn check_syntax(path: &str, content: &str) -> Result<(), String> {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".yml") || lower.ends_with(".yaml") {
        serde_saphyr::from_str_with_options::<IgnoredAny>(content, yaml_options())
            .map(|_| ())
            .map_err(|e| format!("rendered YAML does not parse: {e}"))
    } else if lower.ends_with(".json") {
        serde_json::from_str::<IgnoredAny>(content)
            .map(|_| ())
            .map_err(|e| format!("rendered JSON does not parse: {e}"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_are_checked() {
        assert!(check_syntax("a.yml", "on:\n  push: {}\n").is_ok());
        assert!(check_syntax("a.yaml", "a: [1, 2\n").is_err());
        assert!(
            check_syntax("a.yml", "a: 1\na: 2\n").is_err(),
            "duplicate keys"
        );
        assert!(check_syntax("a.json", "{\"a\": 1}").is_ok());
        assert!(check_syntax("a.json", "{\"a\": 1,}").is_err());
        assert!(check_syntax("CODEOWNERS", "{{ not checked").is_ok());
    }

    #[test]
    fn yaml_1_2_on_is_a_string_key() {
        // With YAML 1.1 `on` would be the boolean true; GitHub workflows rely
        // on it being the key "on".
        let v: std::collections::BTreeMap<String, serde_json::Value> =
            serde_saphyr::from_str_with_options("on: push\nyes: no\n", yaml_options()).unwrap();
        assert_eq!(v["on"], serde_json::json!("push"));
        assert_eq!(v["yes"], serde_json::json!("no"));
    }
}
