//! Git object ids computed locally: `sha1("blob <len>\0" + bytes)`, so a
//! rendered file can be compared with what a forge reports without
//! downloading any content.

use std::fmt;
use std::str::FromStr;

/// A git object id (SHA-1), serialised as 40 lowercase hex digits. A
/// newtype over gix's id so the JSON we write (lock files, plans) has one
/// stable spelling.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(pub gix::ObjectId);

impl ObjectId {
    /// The first 12 hex digits, for humans.
    pub fn short(&self) -> String {
        self.to_string()[..12].to_string()
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.to_hex(), f)
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.0.to_hex())
    }
}

impl FromStr for ObjectId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 40
            || !s
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(format!("{s:?} is not a 40-digit lowercase hex object id"));
        }
        gix::ObjectId::from_hex(s.as_bytes())
            .map(ObjectId)
            .map_err(|e| format!("{s:?}: {e}"))
    }
}

impl From<gix::ObjectId> for ObjectId {
    fn from(id: gix::ObjectId) -> Self {
        ObjectId(id)
    }
}

impl serde::Serialize for ObjectId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The git blob id of `data`.
pub fn blob_id(data: &[u8]) -> ObjectId {
    ObjectId(
        gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, data)
            .expect("SHA-1 of in-memory data cannot fail (collision detection aside)"),
    )
}

/// Git file modes distributor writes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum FileMode {
    /// A regular file, `100644`.
    #[serde(rename = "100644")]
    Regular,
    /// An executable file, `100755`.
    #[serde(rename = "100755")]
    Executable,
}

impl FileMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FileMode::Regular => "100644",
            FileMode::Executable => "100755",
        }
    }
}

impl std::fmt::Display for FileMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_git_hash_object() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            blob_id(b"hello\n").to_string(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        // the empty blob, known to every git user
        assert_eq!(
            blob_id(b"").to_string(),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
    }

    #[test]
    fn serde_is_hex() {
        let id = blob_id(b"hello\n");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"ce013625030ba8dba906f756967f9e9ca394464a\"");
        assert_eq!(serde_json::from_str::<ObjectId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<ObjectId>("\"xyz\"").is_err());
        assert!(
            "CE013625030BA8DBA906F756967F9E9CA394464A"
                .parse::<ObjectId>()
                .is_err()
        );
    }
}
