//! Render budgets: how much work one file's render may do (minijinja fuel)
//! and how large its output may grow (`max_file_size` of its bundle). A
//! template that loops for ever or renders 100 MB must fail fast with its
//! location, never hang a run or reach a repository. Pure: the writer below
//! counts bytes, nothing else.

use std::io;

/// Fuel for one render (minijinja charges about one unit per instruction).
/// Generous for real templates: the shipped bundles need under 200 per
/// file and a loop over 10,000 items with a few expressions inside well
/// under 1,000,000. A runaway loop spends it in one to two seconds on a
/// loaded 2-core machine (about 7 million steps a second), so `validate`
/// of an endless loop fails within seconds, not hours; a template that
/// ran out is not rendered again for the other repos.
pub const FUEL: u64 = 10_000_000;

/// Default cap on one rendered file.
pub const DEFAULT_MAX_FILE_SIZE: usize = 1024 * 1024;

/// The largest `max_file_size` a bundle may set. GitHub refuses files over
/// 100 MiB and warns above 50 MiB; a generated file that large is a mistake.
pub const MAX_MAX_FILE_SIZE: usize = 50 * 1024 * 1024;

/// Parses a size: a byte count (`1048576`) or a number with a unit `B`,
/// `KiB`, `MiB` (`512KiB`, `5 MiB`). Binary units only, so the value means
/// one thing. Between 1 byte and [`MAX_MAX_FILE_SIZE`].
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let unit_bytes: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        other => {
            return Err(format!(
                "{} is not a size: use bytes or a number with B, KiB or MiB (`2MiB`); unknown unit {}",
                crate::diag::quote(text),
                crate::diag::quote(other)
            ));
        }
    };
    let n: usize = number.parse().map_err(|_| {
        format!(
            "{} is not a size: expected a number first (`2MiB`)",
            crate::diag::quote(text)
        )
    })?;
    match n.checked_mul(unit_bytes) {
        Some(bytes) if (1..=MAX_MAX_FILE_SIZE).contains(&bytes) => Ok(bytes),
        _ => Err(format!(
            "{} is out of range: between 1 B and {} (GitHub refuses files over 100 MiB)",
            crate::diag::quote(text),
            human(MAX_MAX_FILE_SIZE)
        )),
    }
}

/// `1 MiB`, `512 KiB`, `1000 B`: exact, in the largest unit that divides.
pub fn human(bytes: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

/// The rendered output, refusing to grow past its cap: the write that
/// would cross it fails, which stops the render there, so a template that
/// would render 100 MB costs at most the cap in memory and time.
pub struct CappedBuffer {
    pub bytes: Vec<u8>,
    cap: usize,
    /// Set when a write was refused.
    pub exceeded: bool,
}

impl CappedBuffer {
    pub fn new(cap: usize) -> CappedBuffer {
        CappedBuffer {
            bytes: Vec::new(),
            cap,
            exceeded: false,
        }
    }
}

impl io::Write for CappedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > self.cap {
            self.exceeded = true;
            return Err(io::Error::other("rendered output over its size cap"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::Write;
    use std::time::{Duration, Instant};

    use crate::registry::{self, ResolvedRepo};
    use crate::render::TemplateSet;

    /// Two repos receiving bundle `a`.
    fn repos() -> Vec<ResolvedRepo> {
        let reg = registry::parse(
            "mini.json",
            r#"{"version": 1, "stages": ["dev"],
                "defaults": {"owner": "acme", "bundles": ["a"], "vars": {"n": 3}},
                "teams": {"t": {"owners": {"teams": ["acme/t"]}, "repos": [{"name": "r"}, {"name": "s"}]}}}"#,
        )
        .unwrap();
        registry::resolve(&reg)
    }

    /// Bundle `a` with `manifest_extra` appended to its manifest and one
    /// template `f.txt` rendered to `out.txt`.
    fn set(manifest_extra: &str, body: &str) -> Result<TemplateSet, String> {
        let manifest = format!("files:\n  - template: f.txt\n    path: out.txt\n{manifest_extra}");
        let files: BTreeMap<String, Vec<u8>> = [
            ("a/bundle.yaml".to_string(), manifest.into_bytes()),
            ("a/f.txt".to_string(), body.as_bytes().to_vec()),
        ]
        .into();
        TemplateSet::from_files("templates", &files).map_err(|d| d.to_string())
    }

    /// Renders every repo; returns the problems of all of them.
    fn render_all(s: &TemplateSet) -> String {
        let mut d = crate::diag::Diagnostics::default();
        for repo in repos() {
            if let Err(e) = s.render_repo(&repo) {
                d.extend(e);
            }
        }
        d.to_string()
    }

    #[test]
    fn an_endless_loop_fails_fast_with_file_and_line_once() {
        let s = set(
            "",
            "head\n{% for i in range(100000) %}{% for j in range(100000) %}{% if j < 0 %}{{ i }}{% endif %}{% endfor %}{% endfor %}\n",
        )
        .unwrap();
        let started = Instant::now();
        let err = render_all(&s);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            err,
            format!(
                "1 problem found; nothing was written:\n  error: templates/a/f.txt:2 (template of bundle `a`, repo acme/r): \
                 render budget exhausted: more than {FUEL} steps (an endless or very long loop?) \
                 (in `{{% for i in range(100000) %}}{{% for j in range(100000) %}}{{% if j < 0 %}}{{{{ i }}}}{{% endif %}}{{% endfor %}}{{% endfor %}}`); \
                 not rendered for the other repos\n"
            )
        );
    }

    #[test]
    fn an_endless_loop_in_a_target_path_fails_once() {
        let manifest = "files:\n  - template: f.txt\n    path: \"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x\"\n";
        let files: BTreeMap<String, Vec<u8>> = [
            ("a/bundle.yaml".to_string(), manifest.as_bytes().to_vec()),
            ("a/f.txt".to_string(), b"x".to_vec()),
        ]
        .into();
        let s = TemplateSet::from_files("templates", &files).unwrap();
        let err = render_all(&s);
        assert!(
            err.starts_with("1 problem found; nothing was written:\n  error: templates/a/f.txt (target path of bundle `a`, repo acme/r): path template \"{% for i"),
            "{err}"
        );
        assert!(
            err.ends_with(&format!(
                "render budget exhausted: more than {FUEL} steps (an endless or very long loop?); not rendered for the other repos\n"
            )),
            "{err}"
        );
    }

    #[test]
    fn output_over_the_default_cap_is_refused_without_building_it() {
        // 100 MB if it were built: 10,000 x 10,000 bytes.
        let s = set(
            "",
            "{% for i in range(10000) %}{{ 'x' * 10000 }}{% endfor %}",
        )
        .unwrap();
        let started = Instant::now();
        let err = render_all(&s);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            err,
            "1 problem found; nothing was written:\n  error: templates/a/f.txt (template of bundle `a`, 2 repos: acme/r, acme/s): \
             rendered output is larger than 1 MiB, the bundle's max_file_size \
             (raise it in templates/a/bundle.yaml, up to 50 MiB)\n"
        );
    }

    #[test]
    fn a_configured_cap_holds_exactly() {
        let ok = set("max_file_size: 10B\n", "0123456789").unwrap();
        for repo in repos() {
            let files = ok.render_repo(&repo).unwrap();
            assert_eq!(files[0].content, b"0123456789");
        }
        let over = set("max_file_size: 10B\n", "0123456789!").unwrap();
        assert_eq!(
            render_all(&over),
            "1 problem found; nothing was written:\n  error: templates/a/f.txt (template of bundle `a`, 2 repos: acme/r, acme/s): \
             rendered output is larger than 10 B, the bundle's max_file_size \
             (raise it in templates/a/bundle.yaml, up to 50 MiB)\n"
        );
        let big = set("max_file_size: 2 MiB\n", "{{ 'x' * 2000000 }}").unwrap();
        assert_eq!(
            big.render_repo(&repos()[0]).unwrap()[0].content.len(),
            2_000_000
        );
    }

    #[test]
    fn a_bad_max_file_size_is_located_in_the_manifest() {
        let err = set("max_file_size: 100MiB\n", "x").err().unwrap();
        assert_eq!(
            err,
            "1 problem found; nothing was written:\n  error: templates/a/bundle.yaml: max_file_size: \
             \"100MiB\" is out of range: between 1 B and 50 MiB (GitHub refuses files over 100 MiB)\n"
        );
    }

    #[test]
    fn sizes_parse_in_binary_units_within_range() {
        assert_eq!(parse_size("1048576"), Ok(1024 * 1024));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("5 MiB"), Ok(5 * 1024 * 1024));
        assert_eq!(parse_size("10B"), Ok(10));
        assert_eq!(parse_size("50MiB"), Ok(MAX_MAX_FILE_SIZE));
        assert_eq!(
            parse_size("51MiB").unwrap_err(),
            "\"51MiB\" is out of range: between 1 B and 50 MiB (GitHub refuses files over 100 MiB)"
        );
        assert!(parse_size("0").is_err());
        assert_eq!(
            parse_size("2MB").unwrap_err(),
            "\"2MB\" is not a size: use bytes or a number with B, KiB or MiB (`2MiB`); unknown unit \"MB\""
        );
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999999999999").is_err());
    }

    #[test]
    fn human_sizes_are_exact() {
        assert_eq!(human(DEFAULT_MAX_FILE_SIZE), "1 MiB");
        assert_eq!(human(1536), "1536 B");
        assert_eq!(human(2048), "2 KiB");
        assert_eq!(human(1000), "1000 B");
    }

    #[test]
    fn the_buffer_refuses_the_write_that_crosses_the_cap() {
        let mut b = CappedBuffer::new(4);
        b.write_all(b"abcd").unwrap();
        assert!(b.write_all(b"e").is_err());
        assert!(b.exceeded);
        assert_eq!(b.bytes, b"abcd");
    }
}
