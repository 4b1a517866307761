//! Headless Chromium for the dashboard tests: find the browser, run it
//! with a fresh profile and a deadline, and read the DOM it built (a
//! section by id, a table's rows and cells as text, entities decoded).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a Chromium run may take before the test kills it and fails
/// (a cold start on a loaded 2-core CI machine takes a few seconds).
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// `chromium` or `chromium-browser` on PATH; fails the test otherwise.
pub fn find_browser() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "headless Chromium is needed for this test but neither `chromium` nor \
         `chromium-browser` is on PATH; `.ci/run` installs Debian's `chromium` package \
         (apt-get install -y chromium)"
    );
}

/// Runs the browser headless with a fresh profile and `args`; returns its
/// stdout. Fails the test on a non-zero exit or after [`BROWSER_TIMEOUT`].
pub fn run_browser(browser: &Path, profile: &Path, args: &[&str]) -> String {
    let mut child = Command::new(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} {args:?} took over {BROWSER_TIMEOUT:?}: {}",
                browser.display(),
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.success(),
        "{} {args:?} failed ({status}): {err}",
        browser.display()
    );
    out
}

/// `target/test-artifacts`, created.
pub fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The part of `html` in `<section id="{id}">`.
pub fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}: {html}"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

/// The text of each body row of the tables in `html`, cells separated by
/// single spaces, entities decoded.
pub fn rows(html: &str) -> Vec<String> {
    let body = &html[html.find("<tbody>").map(|i| i + 7).unwrap_or(0)..];
    body.split("<tr>")
        .skip(1)
        .map(|row| text_of(&row[..row.find("</tr>").unwrap_or(row.len())]))
        .collect()
}

/// The cells of each body row of the tables in `html`, as text (tags
/// removed, entities decoded, whitespace collapsed).
pub fn cells(html: &str) -> Vec<Vec<String>> {
    let body = &html[html.find("<tbody>").map(|i| i + 7).unwrap_or(0)..];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            let row = &row[..row.find("</tr>").unwrap_or(row.len())];
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let cell = &cell[cell.find('>').map(|i| i + 1).unwrap_or(0)..];
                    text_of(cell)
                })
                .collect()
        })
        .collect()
}

/// The text of an HTML fragment: tags become spaces, entities decoded,
/// whitespace collapsed.
pub fn text_of(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&mdash;", "-")
        .replace("&middot;", "·")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
