//! Line-wise three-way merge (diff3) of a managed file that was edited by
//! hand: `base` is what distributor last rendered, `theirs` what the
//! repository holds now, `ours` the new render. Hand edits are kept and
//! template changes applied where they touch different lines; where both
//! sides changed the same or adjacent lines differently the result is a
//! conflict, never a guess. A merged `.json`/`.yml`/`.yaml` file must still
//! parse.
//!
//! Pure: bytes in, an outcome and its descriptions out. No I/O, no logging,
//! and no conflict markers: nothing here is ever meant to be committed
//! except a `Clean` content.

use std::ops::Range;

use serde::Serialize;
use serde::de::IgnoredAny;
use similar::{Algorithm, DiffTag, capture_diff_slices};

use crate::render::bundle::yaml_options;

/// The reason given for input that is not line-oriented text.
const NOT_TEXT: &str = "binary or non-UTF-8 content cannot be merged line by line";

/// Lines shown per fenced block in markdown: a typical hunk fits, and a pull
/// request body about several files stays readable.
const MAX_SHOWN_LINES: usize = 20;

/// Characters of a line quoted by [`Hunk::describe`]: enough to recognise
/// it in a one-line summary.
const MAX_QUOTED_CHARS: usize = 60;

/// The result of [`merge3`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MergeOutcome {
    /// Merged cleanly: the content to deliver and the hand edits that were kept.
    Clean {
        #[serde(skip_serializing)]
        content: Vec<u8>,
        kept: Vec<Hunk>,
    },
    /// Cannot merge: why, per hunk (may be empty when `reason` says it all,
    /// e.g. binary content). When the merged file does not parse, `hunks` are
    /// the hand edits whose combination with the template broke it.
    Conflict { hunks: Vec<Hunk>, reason: String },
}

/// One region of the base that the sides changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hunk {
    /// 1-based first line in base the hunk replaces; with `base_count` 0 the
    /// hunk is an insertion after line `base_start - 1`.
    pub base_start: usize,
    /// Number of base lines replaced.
    pub base_count: usize,
    /// The lines as the template renders them now, exactly as in the file
    /// (line terminators included; empty when the template deleted them).
    pub ours: String,
    /// The lines as the repository has them now, exactly as in the file.
    pub theirs: String,
    /// The lines as distributor last rendered them, exactly as in the file.
    pub base: String,
}

impl Hunk {
    /// A one-line human description, e.g. "lines 4-6: kept the hand edit".
    pub fn describe(&self) -> String {
        let range = self.range();
        if self.ours == self.base {
            if self.theirs.is_empty() {
                format!("{range}: kept the hand deletion")
            } else if self.base_count == 0 {
                let n = count_lines(&self.theirs);
                format!("{range}: kept {n} line{} added by hand", plural(n))
            } else {
                format!("{range}: kept the hand edit")
            }
        } else if self.theirs == self.base {
            format!("{range}: applied the template change")
        } else if self.ours == self.theirs {
            format!("{range}: the template and the hand edit agree")
        } else {
            format!(
                "{range}: the template now has {}, the repository has {}",
                quote(&self.ours),
                quote(&self.theirs)
            )
        }
    }

    /// "line 4", "lines 4-6", "after line 10" or "at the start".
    fn range(&self) -> String {
        match self.base_count {
            0 if self.base_start <= 1 => "at the start".to_string(),
            0 => format!("after line {}", self.base_start - 1),
            _ => format!("line{} {}", plural(self.base_count), self.short_range()),
        }
    }

    /// "4", "4-6" or "after 10", for lists of ranges.
    fn short_range(&self) -> String {
        match self.base_count {
            0 if self.base_start <= 1 => "start".to_string(),
            0 => format!("after {}", self.base_start - 1),
            1 => self.base_start.to_string(),
            n => format!("{}-{}", self.base_start, self.base_start + n - 1),
        }
    }
}

/// Merges `theirs` (the hand-edited repository content) and `ours` (the new
/// render) relative to `base` (the last render). `path` selects the syntax
/// check of the merged result.
pub fn merge3(path: &str, base: &[u8], theirs: &[u8], ours: &[u8]) -> MergeOutcome {
    let (Some(base), Some(theirs), Some(ours)) = (text(base), text(theirs), text(ours)) else {
        return MergeOutcome::Conflict {
            hunks: Vec::new(),
            reason: NOT_TEXT.to_string(),
        };
    };
    let (b, t, o) = (lines(base), lines(theirs), lines(ours));
    let mut merged = String::with_capacity(ours.len().max(theirs.len()));
    let (mut kept, mut conflicts) = (Vec::new(), Vec::new());
    for chunk in chunks(&b, &o, &t) {
        let (bs, os, ts) = (&b[chunk.base.clone()], &o[chunk.ours], &t[chunk.theirs]);
        let hunk = || Hunk {
            base_start: chunk.base.start + 1,
            base_count: chunk.base.len(),
            ours: os.concat(),
            theirs: ts.concat(),
            base: bs.concat(),
        };
        if ts == bs || os == ts {
            merged.extend(os.iter().copied());
        } else if os == bs {
            merged.extend(ts.iter().copied());
            kept.push(hunk());
        } else {
            conflicts.push(hunk());
        }
    }
    if !conflicts.is_empty() {
        let n = conflicts.len();
        return MergeOutcome::Conflict {
            reason: format!(
                "{n} region{} changed both by the template and by hand",
                plural(n)
            ),
            hunks: conflicts,
        };
    }
    // A result equal to either side introduces nothing new to check.
    if merged != ours
        && merged != theirs
        && let Some(reason) = syntax_error(path, ours, &merged)
    {
        return MergeOutcome::Conflict {
            hunks: kept,
            reason,
        };
    }
    MergeOutcome::Clean {
        content: merged.into_bytes(),
        kept,
    }
}

/// Markdown for a pull request body: what was kept, or per conflicting hunk
/// the last render, the template now and the repository now, and what to do.
pub fn describe_markdown(path: &str, outcome: &MergeOutcome) -> String {
    let mut md = String::new();
    match outcome {
        MergeOutcome::Clean { kept, .. } if kept.is_empty() => {
            md.push_str(&format!(
                "#### `{path}`\n\n\
                 The template change was applied; there were no hand edits to keep.\n"
            ));
        }
        MergeOutcome::Clean { kept, .. } => {
            let n = kept.len();
            md.push_str(&format!(
                "#### `{path}`: hand edits kept\n\n\
                 The template change was applied and {n} hand edit{} kept.\n\n",
                plural_was(n)
            ));
            for hunk in kept {
                md.push_str(&format!("**{}**\n\n", capitalise(&hunk.describe())));
                block(&mut md, "Repository now (kept)", &hunk.theirs);
            }
        }
        MergeOutcome::Conflict { hunks, reason } => {
            let reason = capitalise(reason);
            md.push_str(&format!("#### `{path}`: cannot merge\n\n{reason}.\n\n"));
            for hunk in hunks {
                md.push_str(&format!("**{}**\n\n", capitalise(&hunk.describe())));
                if hunk.ours == hunk.base {
                    if !hunk.base.is_empty() {
                        block(&mut md, "Template (unchanged)", &hunk.base);
                    }
                } else {
                    block(&mut md, "Last rendered", &hunk.base);
                    block(&mut md, "Template now", &hunk.ours);
                }
                block(&mut md, "Repository now", &hunk.theirs);
            }
            md.push_str(&format!(
                "**What to do:** edit `{path}` in the repository so that {} the template \
                 (or move the hand edit into the template or the repository's variables), \
                 then run distributor again.\n",
                if hunks.is_empty() {
                    "it follows"
                } else {
                    "these lines follow"
                }
            ));
        }
    }
    md
}

/// Plain text for a commit message: one summary line, plus one line per
/// hunk for a conflict.
pub fn describe_plain(path: &str, outcome: &MergeOutcome) -> String {
    match outcome {
        MergeOutcome::Clean { kept, .. } if kept.is_empty() => {
            format!("{path}: template change applied, no hand edits to keep")
        }
        MergeOutcome::Clean { kept, .. } => {
            let n = kept.len();
            format!("{path}: kept {n} hand edit{} ({})", plural(n), ranges(kept))
        }
        MergeOutcome::Conflict { hunks, reason } => {
            let mut s = format!("{path}: cannot merge: {reason}");
            for hunk in hunks {
                s.push_str(&format!("\n  - {}", hunk.describe()));
            }
            s
        }
    }
}

/// Aligned ranges of base, ours and theirs.
struct Chunk {
    base: Range<usize>,
    ours: Range<usize>,
    theirs: Range<usize>,
}

/// The classic diff3 walk: runs of base lines matched on both sides at the
/// current positions are stable and skipped; everything up to the next base
/// line matched on both sides is one unstable chunk. Returns both kinds in
/// order; the ranges of each side partition that side.
fn chunks(base: &[&str], ours: &[&str], theirs: &[&str]) -> Vec<Chunk> {
    let (mo, mt) = (matches(base, ours), matches(base, theirs));
    let (mut b, mut o, mut t) = (0, 0, 0);
    let mut out = Vec::new();
    loop {
        let mut n = 0;
        while b + n < base.len() && mo[b + n] == Some(o + n) && mt[b + n] == Some(t + n) {
            n += 1;
        }
        let (nb, no, nt) = if n > 0 {
            (b + n, o + n, t + n)
        } else if b == base.len() && o == ours.len() && t == theirs.len() {
            return out;
        } else {
            // Matches are monotonic, so the next line matched on both sides
            // lies at or after the current position on every side.
            (b..base.len())
                .find_map(|i| Some((i, mo[i]?, mt[i]?)))
                .unwrap_or((base.len(), ours.len(), theirs.len()))
        };
        out.push(Chunk {
            base: b..nb,
            ours: o..no,
            theirs: t..nt,
        });
        (b, o, t) = (nb, no, nt);
    }
}

/// For each base line, the line of `other` it is matched with (Myers).
fn matches(base: &[&str], other: &[&str]) -> Vec<Option<usize>> {
    let mut m = vec![None; base.len()];
    for op in capture_diff_slices(Algorithm::Myers, base, other) {
        let (tag, old, new) = op.as_tag_tuple();
        if tag == DiffTag::Equal {
            old.zip(new).for_each(|(i, j)| m[i] = Some(j));
        }
    }
    m
}

/// UTF-8 text without NUL bytes (git's own test for binary), else `None`.
fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|s| !s.contains('\0'))
}

/// Lines with their terminators (`\n`, or `\r\n` as part of the line); a
/// last line without a newline is kept as it is.
fn lines(s: &str) -> Vec<&str> {
    s.split_inclusive('\n').collect()
}

/// The parser's complaint about `merged` when `path` is YAML or JSON and
/// `ours` parses (a template that is not valid on its own is not checked).
fn syntax_error(path: &str, ours: &str, merged: &str) -> Option<String> {
    let lower = path.to_ascii_lowercase();
    let kind = if lower.ends_with(".yml") || lower.ends_with(".yaml") {
        "YAML"
    } else if lower.ends_with(".json") {
        "JSON"
    } else {
        return None;
    };
    let parse = |s| {
        if kind == "YAML" {
            parse_yaml(s)
        } else {
            parse_json(s)
        }
    };
    parse(ours).ok()?;
    let err = parse(merged).err()?;
    Some(format!("the merged file is not valid {kind}: {err}"))
}

/// All documents of a YAML stream, with the rules rendered files are checked
/// with (YAML 1.2 booleans, duplicate keys refused).
fn parse_yaml(s: &str) -> Result<(), String> {
    serde_saphyr::from_multiple_with_options::<IgnoredAny>(s, yaml_options())
        .map(|_| ())
        .map_err(|e| {
            e.without_snippet()
                .render_with_formatter(&serde_saphyr::UserMessageFormatter)
        })
}

fn parse_json(s: &str) -> Result<(), String> {
    serde_json::from_str::<IgnoredAny>(s)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn count_lines(s: &str) -> usize {
    s.split_inclusive('\n').count()
}

/// `s` without line terminators, one entry per line.
fn display_lines(s: &str) -> Vec<&str> {
    s.split_inclusive('\n')
        .map(|l| l.strip_suffix('\n').unwrap_or(l))
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

/// A short quotation of a hunk side for [`Hunk::describe`].
fn quote(s: &str) -> String {
    match display_lines(s).as_slice() {
        [] => "nothing (deleted)".to_string(),
        [line] if line.chars().count() > MAX_QUOTED_CHARS => {
            let cut: String = line.chars().take(MAX_QUOTED_CHARS).collect();
            format!("\"{cut}…\"")
        }
        [line] => format!("\"{line}\""),
        many => format!("{} lines", many.len()),
    }
}

/// "4-6, 10" with "line"/"lines" in front.
fn ranges(hunks: &[Hunk]) -> String {
    let list: Vec<String> = hunks.iter().map(Hunk::short_range).collect();
    let single = hunks.len() == 1 && hunks[0].base_count == 1;
    format!("line{} {}", if single { "" } else { "s" }, list.join(", "))
}

/// A labelled fenced block, truncated after [`MAX_SHOWN_LINES`], with a fence
/// longer than any run of backticks in the content.
fn block(md: &mut String, label: &str, text: &str) {
    let lines = display_lines(text);
    if lines.is_empty() {
        md.push_str(&format!("{label}: *(no lines)*\n\n"));
        return;
    }
    let shown = &lines[..lines.len().min(MAX_SHOWN_LINES)];
    let longest = shown
        .iter()
        .flat_map(|l| l.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    md.push_str(&format!(
        "{label}:\n\n{fence}\n{}\n{fence}\n",
        shown.join("\n")
    ));
    if lines.len() > shown.len() {
        let more = lines.len() - shown.len();
        md.push_str(&format!(
            "\n*… {more} more line{} not shown.*\n",
            plural(more)
        ));
    }
    md.push('\n');
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn plural_was(n: usize) -> &'static str {
    if n == 1 { " was" } else { "s were" }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "l1\n".."l10\n" with the given lines (1-based) replaced; `None` deletes.
    fn ten(edits: &[(usize, Option<&str>)]) -> String {
        (1..=10)
            .filter_map(|i| match edits.iter().find(|(n, _)| *n == i) {
                Some((_, s)) => s.map(|s| format!("{s}\n")),
                None => Some(format!("l{i}\n")),
            })
            .collect()
    }

    fn m(path: &str, base: &str, theirs: &str, ours: &str) -> MergeOutcome {
        merge3(path, base.as_bytes(), theirs.as_bytes(), ours.as_bytes())
    }

    /// Merges edits of `ten` lines: base unedited, `theirs` and `ours` edited.
    fn on_ten(theirs: &[(usize, Option<&str>)], ours: &[(usize, Option<&str>)]) -> MergeOutcome {
        m("f", &ten(&[]), &ten(theirs), &ten(ours))
    }

    fn clean(outcome: MergeOutcome) -> (String, Vec<Hunk>) {
        match outcome {
            MergeOutcome::Clean { content, kept } => (String::from_utf8(content).unwrap(), kept),
            other => panic!("expected a clean merge, got {other:?}"),
        }
    }

    fn conflict(outcome: MergeOutcome) -> (Vec<Hunk>, String) {
        match outcome {
            MergeOutcome::Conflict { hunks, reason } => (hunks, reason),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    fn hunk(start: usize, count: usize, base: &str, ours: &str, theirs: &str) -> Hunk {
        let (ours, theirs, base) = (ours.into(), theirs.into(), base.into());
        Hunk {
            base_start: start,
            base_count: count,
            ours,
            theirs,
            base,
        }
    }

    const BOTH: &str = "1 region changed both by the template and by hand";

    #[test]
    fn keeps_a_hand_edit_and_applies_a_template_change() {
        let outcome = on_ten(&[(2, Some("hand"))], &[(8, Some("tmpl"))]);
        assert_eq!(
            describe_plain("f", &outcome),
            "f: kept 1 hand edit (line 2)"
        );
        let (content, kept) = clean(outcome);
        assert_eq!(content, "l1\nhand\nl3\nl4\nl5\nl6\nl7\ntmpl\nl9\nl10\n");
        assert_eq!(kept, [hunk(2, 1, "l2\n", "l2\n", "hand\n")]);
        assert_eq!(kept[0].describe(), "line 2: kept the hand edit");
    }

    #[test]
    fn the_same_change_on_both_sides_is_taken_once() {
        let both = ten(&[(5, Some("x")), (6, None)]);
        assert_eq!(clean(m("f", &ten(&[]), &both, &both)), (both, vec![]));
    }

    #[test]
    fn different_changes_to_one_line_conflict() {
        let (hunks, reason) = conflict(on_ten(&[(5, Some("t"))], &[(5, Some("o"))]));
        assert_eq!(
            (hunks.as_slice(), reason.as_str()),
            (&[hunk(5, 1, "l5\n", "o\n", "t\n")][..], BOTH)
        );
        let text = "line 5: the template now has \"o\", the repository has \"t\"";
        assert_eq!(hunks[0].describe(), text);
    }

    #[test]
    fn adjacent_changes_conflict() {
        let (hunks, _) = conflict(on_ten(&[(4, Some("t"))], &[(5, Some("o"))]));
        assert_eq!(hunks, [hunk(4, 2, "l4\nl5\n", "l4\no\n", "t\nl5\n")]);
        let text = "lines 4-5: the template now has 2 lines, the repository has 2 lines";
        assert_eq!(hunks[0].describe(), text);
    }

    #[test]
    fn insertion_by_hand_at_the_end_and_template_change_at_the_start() {
        let ours = ten(&[(1, Some("first"))]);
        let (content, kept) = clean(m("f", &ten(&[]), &format!("{}extra\n", ten(&[])), &ours));
        assert_eq!(content, format!("{ours}extra\n"));
        assert_eq!(kept, [hunk(11, 0, "", "", "extra\n")]);
        assert_eq!(
            kept[0].describe(),
            "after line 10: kept 1 line added by hand"
        );
    }

    #[test]
    fn deletion_by_hand_far_from_the_template_change() {
        let (content, kept) = clean(on_ten(&[(9, None)], &[(2, Some("two"))]));
        assert_eq!(content, "l1\ntwo\nl3\nl4\nl5\nl6\nl7\nl8\nl10\n");
        assert_eq!(kept, [hunk(9, 1, "l9\n", "l9\n", "")]);
        assert_eq!(kept[0].describe(), "line 9: kept the hand deletion");
    }

    #[test]
    fn crlf_is_preserved() {
        let (content, kept) = clean(m(
            "f",
            "a\r\nb\r\nc\r\nd\r\ne\r\n",
            "a\r\nB\r\nc\r\nd\r\ne\r\n",
            "a\r\nb\r\nc\r\nd\r\nE\r\n",
        ));
        assert_eq!(content, "a\r\nB\r\nc\r\nd\r\nE\r\n");
        assert_eq!(kept, [hunk(2, 1, "b\r\n", "b\r\n", "B\r\n")]);
    }

    #[test]
    fn a_missing_final_newline_follows_the_side_that_changed_it() {
        let (base, theirs) = ("a\nb\nc\nd", "A\nb\nc\nd");
        assert_eq!(clean(m("f", base, theirs, "a\nb\nc\nD")).0, "A\nb\nc\nD");
        assert_eq!(
            clean(m("f", base, theirs, "a\nb\nc\nd\n")).0,
            "A\nb\nc\nd\n"
        );
        assert_eq!(
            clean(m("f", "a\nb\nc\nd\n", "a\nb\nc\nd", "A\nb\nc\nd\n")).0,
            "A\nb\nc\nd"
        );
    }

    #[test]
    fn an_unchanged_side_yields_the_other_byte_exact() {
        let (base, other) = ("x\r\ny\nz\n\nz\n", "z\n\r\ny\nq\r\n\n\nz\nx");
        assert_eq!(
            clean(m("f", base, base, other)),
            (other.to_string(), vec![])
        );
        let (content, kept) = clean(m("f", base, other, base));
        assert_eq!(content, other);
        assert!(!kept.is_empty());
    }

    #[test]
    fn binary_content_conflicts() {
        let not_text = (vec![], NOT_TEXT.to_string());
        assert_eq!(conflict(merge3("f", b"a\xff\n", b"a\n", b"b\n")), not_text);
        assert_eq!(conflict(merge3("f", b"a\n", b"a\0\n", b"b\n")), not_text);
    }

    #[test]
    fn a_merge_that_breaks_yaml_conflicts() {
        // The hand edit added `D` in the middle, the template adds `D` at the
        // end: a clean line merge with a duplicate key.
        let base = "env:\n  A: \"1\"\n  B: \"2\"\n  C: \"3\"\n";
        let theirs = "env:\n  A: \"1\"\n  D: \"hand\"\n  B: \"2\"\n  C: \"3\"\n";
        let ours = "env:\n  A: \"1\"\n  B: \"2\"\n  C: \"3\"\n  D: \"4\"\n";
        let (hunks, reason) = conflict(m("ci.yml", base, theirs, ours));
        let want = "the merged file is not valid YAML: duplicate mapping key `D` is not allowed here at line 6, column 3";
        assert_eq!(reason, want);
        assert_eq!(hunks, [hunk(3, 0, "", "", "  D: \"hand\"\n")]);
        // The same merge of a file that is not YAML is clean.
        let merged = "env:\n  A: \"1\"\n  D: \"hand\"\n  B: \"2\"\n  C: \"3\"\n  D: \"4\"\n";
        assert_eq!(clean(m("env.txt", base, theirs, ours)).0, merged);
        // Indentation broken by a hand edit that merges cleanly line-wise.
        let (_, reason) = conflict(m(
            "x.yaml",
            "a: 1\nb:\n  - x\n",
            "a: 1\nb:\n  - x\n c: 2\n",
            "a: 2\nb:\n  - x\n",
        ));
        assert!(
            reason.starts_with("the merged file is not valid YAML: "),
            "{reason}"
        );
    }

    #[test]
    fn yaml_is_checked_per_document_and_only_when_the_template_parses() {
        let merged = m(
            "x.yaml",
            "a: 1\n---\nb: 2\nc: 3\n",
            "a: 0\n---\nb: 2\nc: 3\n",
            "a: 1\n---\nb: 2\nc: 4\n",
        );
        assert_eq!(clean(merged).0, "a: 0\n---\nb: 2\nc: 4\n");
        // A template that is not valid YAML on its own is not checked.
        let merged = m(
            "x.yml",
            "x: [\n1\ny: 2\n",
            "x: [\n1\ny: 3\n",
            "x: {\n1\ny: 2\n",
        );
        assert_eq!(clean(merged).0, "x: {\n1\ny: 3\n");
    }

    #[test]
    fn json_both_appending_a_last_element_conflicts() {
        let base = "{\n  \"a\": 1,\n  \"b\": 2\n}\n";
        let theirs = "{\n  \"a\": 1,\n  \"b\": 2,\n  \"hand\": true\n}\n";
        let ours = "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}\n";
        let (hunks, reason) = conflict(m("x.json", base, theirs, ours));
        assert_eq!(reason, BOTH);
        let (b, o, t) = (
            "  \"b\": 2\n",
            "  \"b\": 2,\n  \"c\": 3\n",
            "  \"b\": 2,\n  \"hand\": true\n",
        );
        assert_eq!(hunks, [hunk(3, 1, b, o, t)]);
    }

    #[test]
    fn a_merge_that_breaks_json_conflicts() {
        // A comment added by hand (JSON-with-comments habits) merges cleanly
        // line-wise but the result is not JSON.
        let base = "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}\n";
        let theirs = "{\n  // why a is 1\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}\n";
        let ours = "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 4\n}\n";
        let (hunks, reason) = conflict(m("x.json", base, theirs, ours));
        assert_eq!(
            reason,
            "the merged file is not valid JSON: key must be a string at line 2 column 3"
        );
        assert_eq!(hunks, [hunk(2, 0, "", "", "  // why a is 1\n")]);
    }

    #[test]
    fn markdown_and_plain_for_a_conflict() {
        let outcome = on_ten(&[(5, Some("t"))], &[(5, Some("o ```"))]);
        assert_eq!(
            describe_markdown("a/f.txt", &outcome),
            "#### `a/f.txt`: cannot merge\n\n\
             1 region changed both by the template and by hand.\n\n\
             **Line 5: the template now has \"o ```\", the repository has \"t\"**\n\n\
             Last rendered:\n\n```\nl5\n```\n\n\
             Template now:\n\n````\no ```\n````\n\n\
             Repository now:\n\n```\nt\n```\n\n\
             **What to do:** edit `a/f.txt` in the repository so that these lines follow the template \
             (or move the hand edit into the template or the repository's variables), \
             then run distributor again.\n"
        );
        assert_eq!(
            describe_plain("a/f.txt", &outcome),
            "a/f.txt: cannot merge: 1 region changed both by the template and by hand\n  \
             - line 5: the template now has \"o ```\", the repository has \"t\""
        );
    }

    #[test]
    fn markdown_and_plain_for_a_clean_merge() {
        let long: String = (0..25).map(|i| format!("h{i}\n")).collect();
        let theirs = format!("l1\n{long}{}", &ten(&[])[6..]).replace("l9\n", "");
        let outcome = m("f", &ten(&[]), &theirs, &ten(&[(5, Some("five"))]));
        assert_eq!(
            describe_plain("f", &outcome),
            "f: kept 2 hand edits (lines 2, 9)"
        );
        let md = describe_markdown("f", &outcome);
        assert!(md.starts_with(
            "#### `f`: hand edits kept\n\nThe template change was applied and 2 hand edits were kept.\n\n\
             **Line 2: kept the hand edit**\n\nRepository now (kept):\n\n```\nh0\n"
        ), "{md}");
        assert!(
            md.ends_with(
                "h19\n```\n\n*… 5 more lines not shown.*\n\n**Line 9: kept the hand deletion**\n\n\
             Repository now (kept): *(no lines)*\n\n"
            ),
            "{md}"
        );
        let trivial = on_ten(&[], &[(5, Some("five"))]);
        assert_eq!(
            describe_plain("f", &trivial),
            "f: template change applied, no hand edits to keep"
        );
    }

    #[test]
    fn serialises_without_content() {
        assert_eq!(
            serde_json::to_value(m("f", "a\n", "b\n", "a\n")).unwrap(),
            serde_json::json!({"outcome": "clean", "kept": [
                {"base_start": 1, "base_count": 1, "ours": "a\n", "theirs": "b\n", "base": "a\n"}
            ]})
        );
    }
}
