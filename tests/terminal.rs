//! `apply` on a terminal, as an operator sees it: the binary runs under a
//! pseudo-terminal (util-linux `script`, which CI installs), its output is
//! replayed on a small screen model (carriage returns, line erasing,
//! cursor movement), and the final screen is checked: the progress bar
//! was drawn and is gone, no partial bar is left on any line, no `INFO`
//! line at the default verbosity, log lines (with `-v`) on lines of their
//! own, and a final summary whose counts add up to the repos of the run.

mod common;

use std::process::{Command, Stdio};

use common::Env;

/// The characters indicatif draws a bar with (filled, empty).
const BAR_GLYPHS: [char; 2] = ['█', '░'];

/// `distributor ARGS` run by `env` under a pseudo-terminal: exit code and
/// everything written to the terminal (stdout and stderr, as the
/// terminal received them).
fn in_terminal(env: &Env, args: &[&str]) -> (i32, String) {
    let inner = env.command(args);
    let line: Vec<String> = std::iter::once(inner.get_program())
        .chain(inner.get_args())
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect();
    let mut cmd = Command::new("script");
    // -q: no "Script started" lines; -f: flush as written; -e: the
    // command's exit code; -c: the command; /dev/null: no typescript file.
    cmd.args(["-qfec", &line.join(" "), "/dev/null"])
        .stdin(Stdio::null());
    if let Some(dir) = inner.get_current_dir() {
        cmd.current_dir(dir);
    }
    for (key, value) in inner.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let out = cmd
        .output()
        .expect("`script` (util-linux; .ci/run installs bsdutils) runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A terminal screen without a width limit: the text each line shows once
/// every byte has been interpreted.
#[derive(Default)]
struct Screen {
    rows: Vec<Vec<char>>,
    row: usize,
    col: usize,
}

impl Screen {
    fn replay(raw: &str) -> Vec<String> {
        let mut s = Screen::default();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => s.col = 0,
                '\n' => s.row += 1,
                '\u{8}' => s.col = s.col.saturating_sub(1),
                '\u{1b}' if chars.peek() == Some(&'[') => {
                    chars.next();
                    let mut params = String::new();
                    let mut end = None;
                    for p in chars.by_ref() {
                        if p.is_ascii_alphabetic() || p == '@' || p == '~' {
                            end = Some(p);
                            break;
                        }
                        params.push(p);
                    }
                    s.control(&params, end);
                }
                c if c.is_control() => {}
                c => s.put(c),
            }
        }
        s.rows
            .iter()
            .map(|r| r.iter().collect::<String>().trim_end().to_string())
            .collect()
    }

    fn line(&mut self) -> &mut Vec<char> {
        if self.rows.len() <= self.row {
            self.rows.resize(self.row + 1, Vec::new());
        }
        &mut self.rows[self.row]
    }

    fn put(&mut self, c: char) {
        let col = self.col;
        let line = self.line();
        if line.len() <= col {
            line.resize(col + 1, ' ');
        }
        line[col] = c;
        self.col += 1;
    }

    /// A CSI sequence: cursor movement and erasing; colours and modes
    /// change nothing on the screen's text.
    fn control(&mut self, params: &str, end: Option<char>) {
        let n = params.trim_start_matches('?').parse::<usize>().unwrap_or(0);
        let col = self.col;
        match end {
            Some('A') => self.row = self.row.saturating_sub(n.max(1)),
            Some('B') => self.row += n.max(1),
            Some('G') => self.col = n.max(1) - 1,
            Some('K') => match n {
                0 => self.line().truncate(col),
                1 => {
                    let line = self.line();
                    let end = (col + 1).min(line.len());
                    line[..end].iter_mut().for_each(|c| *c = ' ');
                }
                _ => self.line().clear(),
            },
            Some('J') if n == 0 => {
                self.line().truncate(col);
                self.rows.truncate(self.row + 1);
            }
            _ => {}
        }
    }
}

#[test]
fn the_screen_model_keeps_what_a_terminal_would_show() {
    let raw = "one\r\nbar 1/2\r\x1b[2Kbar 2/2\r\x1b[2Klog\r\nbar\r\x1b[1A\x1b[2Kup\r\n\
               \x1b[2Kdone\r\n\x1b[Kz\x1b[0m";
    assert_eq!(Screen::replay(raw), ["one", "up", "done", "z"]);
    assert_eq!(
        Screen::replay("abcdef\rab\x1b[K\n"),
        ["ab"],
        "ESC[K erases to the end of the line"
    );
}

/// The shipped fleet after `apply --init`, with a flag changed that
/// reaches some repos and not others.
fn fleet_with_a_change() -> Env {
    let env = Env::initialised();
    env.replace_in_registry("\"audit_logging\": true", "\"audit_logging\": false");
    env
}

/// The number of repos on the forge (every one is a target).
fn repo_count(env: &Env) -> usize {
    std::fs::read_dir(env.forge.join("acme"))
        .expect("forge owner directory")
        .count()
}

/// The screen's lines without the blank ones.
fn shown(screen: &[String]) -> Vec<&str> {
    screen
        .iter()
        .map(String::as_str)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Asserts no line shows any part of a bar, and the last line is the
/// summary with counts adding up to `repos`; returns the summary.
fn assert_calm_end(screen: &[String], raw: &str, repos: usize) -> String {
    let lines = shown(screen);
    let with_bar: Vec<&&str> = lines.iter().filter(|l| l.contains(BAR_GLYPHS)).collect();
    assert!(
        with_bar.is_empty(),
        "no bar (whole or partial) is left on screen: {with_bar:#?}\nscreen:\n{}\nraw: {raw:?}",
        lines.join("\n")
    );
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with("Applied: "),
        "the summary ends the output: {last:?}\nscreen:\n{}",
        lines.join("\n")
    );
    let numbers: Vec<usize> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let (total, counts) = numbers.split_last().expect("counts in the summary");
    assert_eq!(*total, repos, "the summary names every repo: {last}");
    assert_eq!(
        counts.iter().sum::<usize>(),
        repos,
        "the counts add up: {last}"
    );
    last.to_string()
}

#[test]
fn apply_on_a_terminal_draws_one_bar_then_leaves_only_the_results_and_summary() {
    let env = fleet_with_a_change();
    let repos = repo_count(&env);
    let forge = env.forge_arg();
    let (code, raw) = in_terminal(&env, &["apply", "--forge", &forge]);
    assert_eq!(code, 0, "{raw}");
    // The bar was drawn: on a terminal, over the repos of the run.
    assert!(
        raw.contains(&format!("/{repos} repos")) && raw.contains(BAR_GLYPHS),
        "a progress bar was drawn: {raw:?}"
    );
    let screen = Screen::replay(&raw);
    let lines = shown(&screen);
    assert!(
        !lines.iter().any(|l| l.contains("INFO")),
        "no INFO line on a terminal by default:\n{}",
        lines.join("\n")
    );
    let summary = assert_calm_end(&screen, &raw, repos);
    assert_eq!(
        summary,
        format!("Applied: 5 repos changed, 7 unchanged, 0 failed ({repos} repos).")
    );
    // Every other line is one repo's result.
    for l in &lines[..lines.len() - 1] {
        assert!(
            l.starts_with("acme/") && l.contains(": "),
            "only per-repo results before the summary: {l:?}\n{}",
            lines.join("\n")
        );
    }
    assert_eq!(lines.len(), 5 + 1, "{}", lines.join("\n"));
}

#[test]
fn apply_quiet_on_a_terminal_draws_no_bar() {
    let env = fleet_with_a_change();
    let repos = repo_count(&env);
    let forge = env.forge_arg();
    let (code, raw) = in_terminal(&env, &["apply", "-q", "--forge", &forge]);
    assert_eq!(code, 0, "{raw}");
    assert!(
        !raw.contains(BAR_GLYPHS) && !raw.contains(&format!("/{repos} repos")),
        "-q draws no progress bar: {raw:?}"
    );
    assert_calm_end(&Screen::replay(&raw), &raw, repos);
}

#[test]
fn log_lines_print_above_the_bar_and_leave_no_bar_behind() {
    let env = fleet_with_a_change();
    let repos = repo_count(&env);
    let forge = env.forge_arg();
    let (code, raw) = in_terminal(&env, &["apply", "-v", "--forge", &forge]);
    assert_eq!(code, 0, "{raw}");
    let screen = Screen::replay(&raw);
    let lines = shown(&screen);
    let logs: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains(" DEBUG ") || l.contains(" INFO "))
        .collect();
    assert!(
        logs.iter().any(|l| l.contains("repo done")),
        "-v logs every repo:\n{}",
        lines.join("\n")
    );
    // A log line starts at the start of a line (a timestamp), never after
    // a piece of bar.
    for l in &logs {
        assert!(l.starts_with("20"), "a log line of its own: {l:?}");
    }
    assert_calm_end(&screen, &raw, repos);
}

#[test]
fn off_a_terminal_logs_are_written_as_they_come() {
    let env = fleet_with_a_change();
    let run = env.apply(&[]).expect_code(0).clone();
    assert_eq!(
        run.stderr.matches(" INFO repo done").count(),
        5,
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(BAR_GLYPHS), "no bar off a terminal");
    assert!(
        run.stdout.ends_with(&format!(
            "\nApplied: 5 repos changed, 7 unchanged, 0 failed ({} repos).\n",
            repo_count(&env)
        )),
        "{}",
        run.stdout
    );
}
