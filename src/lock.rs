//! The lock file committed into every target repo (default
//! `.github/distributor.lock.json`): what distributor last wrote there, from
//! which platform revision, with which version. It is the only state
//! distributor keeps, and it lives with the files it describes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::blob::{FileMode, ObjectId};

/// The lock format version.
pub const LOCK_VERSION: u64 = 1;

/// The platform revision files were rendered from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Commit id of the platform repo (registry + templates), or
    /// `unversioned` when they are not in a git repository.
    pub revision: String,
    /// The registry or templates had uncommitted changes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dirty: bool,
    /// Digest of the exact inputs, present when `dirty` or unversioned, so
    /// two dirty runs can still be told apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.revision)?;
        if self.dirty {
            f.write_str("-dirty")?;
        }
        if let Some(d) = &self.digest {
            write!(f, " (inputs {})", &d[..d.len().min(12)])?;
        }
        Ok(())
    }
}

/// One managed file as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    pub bundle: String,
    pub template: String,
    /// Git blob id of the content as written.
    pub blob: ObjectId,
    pub mode: FileMode,
    /// The render's blob id, when what was written is a 3-way merge of it
    /// with hand edits (`blob` then differs): the base of the next merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered: Option<ObjectId>,
    /// The render's text, with `rendered`: it was never committed anywhere,
    /// and the next 3-way merge needs it as its base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_text: Option<String>,
}

/// The whole lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: u64,
    pub source: Source,
    /// `distributor X.Y.Z` that wrote it.
    pub generator: String,
    pub files: BTreeMap<String, LockEntry>,
}

impl Lock {
    /// Parses a lock file read from a repo. `where_` names it in errors.
    pub fn parse(where_: &str, text: &str) -> Result<Lock, String> {
        let lock: Lock = serde_json::from_str(text).map_err(|e| {
            format!("{where_} is not a valid distributor lock file ({e}); restore it from history or delete it to re-adopt every file")
        })?;
        if lock.version != LOCK_VERSION {
            return Err(format!(
                "{where_} has lock version {}; this distributor reads version {LOCK_VERSION}",
                lock.version
            ));
        }
        Ok(lock)
    }

    /// The bytes committed: pretty JSON, sorted keys, final newline, so the
    /// diff of a lock change is readable in a pull request.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("lock serialises");
        out.push(b'\n');
        out
    }
}

/// The `generator` string of this build.
pub fn generator() -> String {
    format!("distributor {}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::blob_id;

    #[test]
    fn round_trips_and_is_stable() {
        let mut files = BTreeMap::new();
        files.insert(
            ".editorconfig".to_string(),
            LockEntry {
                bundle: "baseline".into(),
                template: "baseline/editorconfig.j2".into(),
                blob: blob_id(b"root = true\n"),
                mode: FileMode::Regular,
                rendered: None,
                rendered_text: None,
            },
        );
        let lock = Lock {
            version: 1,
            source: Source {
                revision: "abc".into(),
                dirty: false,
                digest: None,
            },
            generator: "distributor 0.1.0".into(),
            files,
        };
        let bytes = lock.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(!text.contains("dirty"), "clean sources omit the flag");
        assert_eq!(Lock::parse("lock", &text).unwrap(), lock);
        assert_eq!(lock.to_bytes(), bytes);
    }

    #[test]
    fn bad_lock_says_what_to_do() {
        let e = Lock::parse(".github/distributor.lock.json", "{").unwrap_err();
        assert!(e.contains("not a valid distributor lock file"), "{e}");
        let e = Lock::parse(
            "x",
            r#"{"version": 9, "source": {"revision": "a"}, "generator": "g", "files": {}}"#,
        )
        .unwrap_err();
        assert!(e.contains("lock version 9"), "{e}");
    }
}
