//! A flag rollout tracked to completion against the fake GitHub: a 30-repo
//! fleet over dev, stg and prd (direct and pull-request delivery, a canary
//! wave soaking an hour before the rest). `new_db` is switched on in dev,
//! then in stg; `distributor flags new_db` follows each stage from pending
//! pull requests (with numbers and ages), live direct commits, the held
//! wave (waiting, with its reason) and a hand edit (blocked) to live
//! everywhere, exit code 2 then 0, and its text, JSON and markdown agree.
//! `validate` warns (or refuses, with `--strict-flags`) when prd is
//! switched on while stg is not live everywhere, naming the holders, and
//! notes when it cannot check. The daemon's dashboard shows what `flags`
//! shows, in headless Chromium.

mod common;
mod flags_github {
    //! The harness, by subject.
    pub mod daemon;
    pub mod world;
}

use serde_json::Value;

use flags_github::world::{self, HOUR, OWNER, World, tfvars};

/// `flags new_db --format json` at `t0 + offset`: exit code and report.
fn flags_json(w: &World, offset: i64) -> (i32, Value) {
    let run = w.run(offset, "flags", &["new_db", "--format", "json"]);
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("flags JSON: {e}\n{}{}", run.stdout, run.stderr));
    (run.code, report)
}

/// Stage `name` of `new_db` in a report.
fn stage<'a>(report: &'a Value, name: &str) -> &'a Value {
    let flag = &report["flags"][0];
    assert_eq!(flag["name"], "new_db", "{report}");
    flag["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap_or_else(|| panic!("stage {name} in {flag}"))
}

/// The repos of a list of names or of `{repo, ...}` objects, as listed.
fn repos(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| match v.as_str() {
            Some(s) => s.to_string(),
            None => v["repo"].as_str().unwrap().to_string(),
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn full(names: &[&str]) -> Vec<String> {
    sorted(names.iter().map(|n| format!("{OWNER}/{n}")).collect())
}

/// (live, pending, waiting, blocked) counts of a stage.
fn counts(s: &Value) -> (usize, usize, usize, usize) {
    let n = |k: &str| s[k].as_array().unwrap().len();
    (n("live"), n("pending"), n("waiting"), n("blocked"))
}

/// The text and markdown forms at the same time say what the JSON says:
/// per stage the same counts (markdown's table row, text's stage line),
/// the same exit code; returns (text, markdown).
fn forms_agree(w: &World, offset: i64, code: i32, report: &Value) -> (String, String) {
    let text = w.run(offset, "flags", &["new_db"]);
    let md = w.run(offset, "flags", &["new_db", "--format", "markdown"]);
    assert_eq!((text.code, md.code), (code, code), "{text:?}\n{md:?}");
    for s in report["flags"][0]["stages"].as_array().unwrap() {
        let (live, pending, waiting, blocked) = counts(s);
        let value = match (s["on"].as_u64().unwrap(), s["off"].as_u64().unwrap()) {
            (_, 0) => "on".to_string(),
            (0, _) => "off".to_string(),
            (on, off) => format!("on in {on}, off in {off}"),
        };
        let na = s["not_applicable"].as_array().unwrap().len();
        let row = format!(
            "| {} | {value} | {live} | {pending} | {waiting} | {blocked} | {na} |",
            s["stage"].as_str().unwrap()
        );
        assert!(md.stdout.contains(&row), "{row}\n{}", md.stdout);
        let total = live + pending + waiting + blocked;
        let standing = if s["complete"] == true {
            format!("live everywhere ({total} repos)")
        } else {
            let mut parts = vec![format!("{live} of {total} live")];
            for (n, what) in [
                (pending, "pending"),
                (waiting, "waiting"),
                (blocked, "blocked"),
            ] {
                if n > 0 {
                    parts.push(format!("{n} {what}"));
                }
            }
            parts.join(", ")
        };
        let line = format!("  {}  {value} · {standing}\n", s["stage"].as_str().unwrap());
        assert!(text.stdout.contains(&line), "{line:?}\n{}", text.stdout);
    }
    let verdict = if code == 0 {
        "Every flag's registry value is live everywhere."
    } else {
        "Some flags are still on their way (see the repos above)."
    };
    assert!(
        text.stdout.ends_with(&format!("\n{verdict}\n")),
        "{}",
        text.stdout
    );
    let mark = if code == 0 { "live" } else { "on its way" };
    assert!(
        md.stdout.contains(&format!("### `new_db` ({mark})")),
        "{}",
        md.stdout
    );
    (text.stdout, md.stdout)
}

/// The names of the fleet's repos matching `f`.
fn names(w: &World, f: impl Fn(&world::Repo) -> bool) -> Vec<String> {
    sorted(
        w.repos
            .iter()
            .filter(|r| f(r))
            .map(|r| format!("{OWNER}/{}", r.name))
            .collect(),
    )
}

/// Onboards the fleet: canary, its pull requests merged, the soak, the
/// default wave, its pull requests merged. Returns the next free offset.
fn bring_in_sync(w: &World) -> i64 {
    w.apply(0);
    assert_eq!(w.merge_all(&[]), 2, "the canary's pull requests");
    w.apply(60);
    w.apply(60 + HOUR + 1);
    assert_eq!(w.merge_all(&[]), 7, "the default wave's pull requests");
    let (code, report) = flags_json(w, 60 + HOUR + 60);
    assert_eq!(code, 0, "in sync, new_db off and live everywhere: {report}");
    for name in ["dev", "stg", "prd"] {
        let s = stage(&report, name);
        assert_eq!((s["on"].as_u64(), s["off"].as_u64()), (Some(0), Some(30)));
        assert_eq!(counts(s), (30, 0, 0, 0), "{name}: {s}");
    }
    2 * HOUR
}

/// A hand edit on `name`'s dev file, on the very line `new_db` sets.
fn hand_edit(w: &World, name: &str) -> String {
    let path = tfvars("dev");
    let ours = w.file(name, "main", &path).unwrap();
    assert!(ours.contains("new_db     = false\n"), "{ours}");
    let edited = ours.replace("new_db     = false", "new_db     = false # pinned: INC-42");
    w.fake.push(
        OWNER,
        name,
        "main",
        &[(path.as_str(), Some(edited.as_bytes()))],
        "pin new_db off in dev",
    );
    edited
}

#[test]
fn a_flag_switched_on_stage_by_stage_is_tracked_until_live_everywhere() {
    let started = std::time::Instant::now();
    let mut w = World::new(world::fleet(), Some("1h"));
    let t1 = bring_in_sync(&w);
    hand_edit(&w, "cherry-02");
    dev_on_reaches_the_canary(&mut w, t1);
    let t2 = dev_goes_live_everywhere(&w, t1);
    stg_goes_live_everywhere(&mut w, t2);
    eprintln!(
        "flags_github: 30 repos, dev then stg live everywhere in {:?}",
        started.elapsed()
    );
}

/// dev: on. The canary receives it: direct repos are live at once, the
/// pull-request repos pending (numbers, ages); the default wave is held
/// (waiting, with the wave's reason), the hand-edited repo blocked.
fn dev_on_reaches_the_canary(w: &mut World, t1: i64) {
    let rev2 = w.switch("dev", true, true).unwrap();
    w.apply(t1);
    let (pr_a, pr_b) = (w.pull("apple-01").number, w.pull("banana-01").number);
    // banana's pull request is the older: it comes first.
    w.fake.set_pull_created_at(
        OWNER,
        "banana-01",
        pr_b,
        &distributor::time::rfc3339(w.t0 + t1 - 1800),
    );
    w.fake.set_pull_created_at(
        OWNER,
        "apple-01",
        pr_a,
        &distributor::time::rfc3339(w.t0 + t1),
    );
    let at = t1 + 600;
    let (code, report) = flags_json(w, at);
    assert_eq!(code, 2, "{report}");
    assert_eq!(report["schema"], "distributor.flags/v1");
    assert_eq!(report["complete"], false);
    let dev = stage(&report, "dev");
    assert_eq!(
        (dev["on"].as_u64(), dev["off"].as_u64()),
        (Some(30), Some(0))
    );
    assert_eq!(
        sorted(repos(&dev["live"])),
        full(&["apple-00", "banana-00"])
    );
    let pending: Vec<(String, u64, u64)> = dev["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["repo"].as_str().unwrap().to_string(),
                p["pull_request"].as_u64().unwrap(),
                p["age_secs"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pending,
        vec![
            (format!("{OWNER}/banana-01"), pr_b, 2400),
            (format!("{OWNER}/apple-01"), pr_a, 600),
        ]
    );
    let held = format!(
        "wave default waits for wave canary to take revision {}",
        &rev2[..12]
    );
    let waiting = &dev["waiting"];
    assert_eq!(
        sorted(repos(waiting)),
        names(w, |r| r.wave == "default" && r.name != "cherry-02")
    );
    for item in waiting.as_array().unwrap() {
        assert!(
            item["reason"].as_str().unwrap().starts_with(&held),
            "{item}"
        );
    }
    assert_eq!(
        dev["blocked"],
        serde_json::json!([{"repo": "acme/cherry-02", "path": tfvars("dev"), "state": "conflicted"}])
    );
    for later in ["stg", "prd"] {
        assert_eq!(counts(stage(&report, later)), (30, 0, 0, 0), "{later}");
    }
    let (text, md) = forms_agree(w, at, 2, &report);
    for line in [
        format!("pending  acme/banana-01  #{pr_b} open 40m"),
        format!("pending  acme/apple-01   #{pr_a} open 10m"),
        "blocked  acme/cherry-02  terraform/dev/flags.auto.tfvars conflicted".to_string(),
    ] {
        assert!(text.contains(&line), "{line:?}\n{text}");
    }
    // The 25 repos the held wave keeps waiting are one row, not 25.
    let grouped = text
        .lines()
        .find(|l| l.contains("waiting  25 repos"))
        .unwrap_or_else(|| panic!("no grouped waiting row:\n{text}"));
    assert!(
        grouped.contains(&held)
            && grouped.contains("(acme/apple-02, ")
            && grouped.ends_with(" and 22 more)"),
        "{grouped}"
    );
    for line in [
        format!("- dev pending: `acme/banana-01` #{pr_b} open 40m"),
        "- dev blocked: `acme/cherry-02` terraform/dev/flags.auto.tfvars conflicted".to_string(),
    ] {
        assert!(md.contains(&line), "{line:?}\n{md}");
    }
}

/// The canary's pull requests merged, its soak, the default wave, the
/// hand edit resolved: dev is live everywhere. Returns the next offset.
fn dev_goes_live_everywhere(w: &World, t1: i64) -> i64 {
    // The canary is in sync and soaks.
    assert_eq!(w.merge_all(&[]), 2);
    let soak_start = t1 + 1200;
    w.apply(soak_start);
    let (code, report) = flags_json(w, soak_start + 60);
    assert_eq!(code, 2);
    let dev = stage(&report, "dev");
    assert_eq!(counts(dev), (4, 0, 25, 1), "{dev}");
    let soaking = format!(
        "wave canary soaking until {}",
        distributor::time::utc(w.t0 + soak_start + HOUR)
    );
    for item in dev["waiting"].as_array().unwrap() {
        assert!(
            item["reason"].as_str().unwrap().contains(&soaking),
            "{item}"
        );
    }

    // After the soak the default wave receives it; its pull requests are
    // merged. The hand-edited repo stays blocked: its edit is kept and
    // the render waits in a pull request.
    let after = soak_start + HOUR + 1;
    w.apply(after);
    assert_eq!(w.merge_all(&["cherry-02"]), 7);
    let proposal = w.pull("cherry-02");
    let (code, report) = flags_json(w, after + 60);
    assert_eq!(code, 2, "{report}");
    let dev = stage(&report, "dev");
    assert_eq!(counts(dev), (29, 0, 0, 1), "{dev}");
    assert_eq!(dev["blocked"][0]["repo"], "acme/cherry-02");
    forms_agree(w, after + 60, 2, &report);

    // The owners take the render: dev is live everywhere, exit 0.
    let render = w.file("cherry-02", &proposal.head, &tfvars("dev")).unwrap();
    assert!(render.contains("new_db     = true\n"), "{render}");
    w.fake.push(
        OWNER,
        "cherry-02",
        "main",
        &[(tfvars("dev").as_str(), Some(render.as_bytes()))],
        "take the platform's new_db",
    );
    let (code, report) = flags_json(w, after + 120);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["complete"], true);
    assert_eq!(counts(stage(&report, "dev")), (30, 0, 0, 0));
    let (text, md) = forms_agree(w, after + 120, 0, &report);
    assert!(
        text.contains("  dev  on · live everywhere (30 repos)\n"),
        "{text}"
    );
    assert!(md.contains("| dev | on | 30 | 0 | 0 | 0 | 0 |"), "{md}");
    w.apply(after + 180);
    assert!(
        w.open_pulls("cherry-02").is_empty(),
        "the proposal is closed"
    );

    after + 2 * HOUR
}

/// stg: on, the same progression; on the way, prd switched on too early.
fn stg_goes_live_everywhere(w: &mut World, t2: i64) {
    let rev3 = w.switch("stg", true, true).unwrap();
    w.apply(t2);
    let (code, report) = flags_json(w, t2 + 60);
    assert_eq!(code, 2);
    let stg = stage(&report, "stg");
    assert_eq!(counts(stg), (2, 2, 26, 0), "{stg}");
    assert_eq!(
        sorted(repos(&stg["pending"])),
        full(&["apple-01", "banana-01"])
    );
    for p in stg["pending"].as_array().unwrap() {
        let name = p["repo"].as_str().unwrap().trim_start_matches("acme/");
        assert_eq!(p["pull_request"].as_u64(), Some(w.pull(name).number));
    }
    let held = format!(
        "wave default waits for wave canary to take revision {}",
        &rev3[..12]
    );
    for item in stg["waiting"].as_array().unwrap() {
        assert!(
            item["reason"].as_str().unwrap().starts_with(&held),
            "{item}"
        );
    }
    assert_eq!(stage(&report, "dev")["complete"], true, "dev stays live");
    forms_agree(w, t2 + 60, 2, &report);

    prd_while_stg_is_on_its_way(w, t2 + 120);

    assert_eq!(w.merge_all(&[]), 2);
    w.apply(t2 + 600);
    let (_, report) = flags_json(w, t2 + 660);
    assert_eq!(counts(stage(&report, "stg")), (4, 0, 26, 0));
    w.apply(t2 + 600 + HOUR + 1);
    assert_eq!(w.merge_all(&[]), 7);
    let (code, report) = flags_json(w, t2 + 600 + HOUR + 60);
    assert_eq!(code, 0, "{report}");
    assert_eq!(counts(stage(&report, "stg")), (30, 0, 0, 0));
    let (text, _) = forms_agree(w, t2 + 600 + HOUR + 60, 0, &report);
    assert!(
        text.contains("  stg  on · live everywhere (30 repos)\n"),
        "{text}"
    );
}

/// `validate` while stg is on its way and prd is switched on (not yet
/// committed): exit 0 with `plan`'s warning naming the holders of stg;
/// with `--strict-flags` exit 1 and nothing written anywhere.
fn prd_while_stg_is_on_its_way(w: &mut World, at: i64) {
    w.switch("prd", true, false);
    let (_, report) = flags_json(w, at);
    let out = &report["out_of_order"];
    assert_eq!(out.as_array().unwrap().len(), 1, "{report}");
    assert_eq!(
        (&out[0]["stage"], &out[0]["earlier"]),
        (&"prd".into(), &"stg".into())
    );
    let holders = repos(&out[0]["holders"]);
    let stg = stage(&report, "stg");
    let mut expected = repos(&stg["pending"]);
    expected.extend(repos(&stg["waiting"]));
    assert_eq!(holders, expected);
    assert_eq!(holders.len(), 28, "{holders:?}");
    let line = format!(
        "flag out of order: new_db is on in prd while stg is not live everywhere yet (held up by {} and 25 more)",
        holders[..3].join(", ")
    );

    let run = w.run(at, "validate", &[]);
    run.expect_code(0);
    assert!(
        run.stdout
            .starts_with("valid: 3 teams, 30 repos, 90 files rendered"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("flag order: checked against the fleet (30 repos): 1 flag out of order"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr.matches(&line).count(),
        1,
        "{line}\n{}",
        run.stderr
    );

    let (tips, state) = (w.tips(), w.state_files());
    w.fake.reset_counters();
    let strict = w.run(at, "validate", &["--strict-flags"]);
    strict.expect_code(1);
    assert!(
        strict.stderr.contains(&format!(
            "error: flag out of order (--strict-flags): {}",
            line.trim_start_matches("flag out of order: ")
        )),
        "{}",
        strict.stderr
    );
    let counters = w.fake.counters();
    assert_eq!(counters.content_creating, 0, "nothing written");
    eprintln!(
        "flags_github: validate --strict-flags observed 30 repos in {} requests",
        counters.total
    );
    assert_eq!(w.tips(), tips);
    assert_eq!(w.state_files(), state, "the state directory is untouched");
    w.discard_registry_change();
}

#[test]
fn validate_notes_when_it_cannot_check_the_flag_order() {
    let fleet: Vec<world::Repo> = world::fleet().into_iter().take(3).collect();
    let mut w = World::new(fleet, None);
    // Nothing on after dev: nothing to check, nothing observed.
    w.fake.reset_counters();
    let run = w.run(0, "validate", &[]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "valid: 1 teams, 3 repos, 9 files rendered (3 repos, 9 files selected by filters)\n"
    );
    assert_eq!(w.fake.counters().total, 0, "nothing to observe");
    // In sync with new_db off (without a soak, waves do not hold).
    w.apply(0);
    w.merge_all(&[]);
    w.apply(60);
    assert_eq!(w.merge_all(&[]), 0);

    w.switch("stg", true, true);
    let no_forge = "no forge given (pass --forge or set DISTRIBUTOR_FORGE to observe it)";
    let run = w.run_raw(0, &["validate"], &[("GITHUB_TOKEN", world::TOKEN)]);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with(&format!(
            "\nnote: the flag order was not checked against the fleet: {no_forge}\n"
        )),
        "{}",
        run.stdout
    );
    let strict = w.run_raw(0, &["validate", "--strict-flags"], &[]);
    strict.expect_code(1);
    assert!(
        strict.stderr.contains(&format!(
            "error: the flag order could not be checked against the fleet (--strict-flags): {no_forge}"
        )),
        "{}",
        strict.stderr
    );
    // A forge given without a token: the same note, saying so.
    let forge = format!("github:{}", w.fake.url());
    let run = w.run_raw(0, &["validate", "--forge", &forge], &[]);
    run.expect_code(0);
    assert!(
        run.stdout.contains(
            "note: the flag order was not checked against the fleet: --forge: no GitHub credentials"
        ),
        "{}",
        run.stdout
    );
    // With the token: observed; stg is on while dev is live everywhere.
    let run = w.run(120, "validate", &[]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("flag order: checked against the fleet (3 repos): in order"),
        "{}",
        run.stdout
    );
    // prd too, before stg's first apply: every repo holds stg.
    w.switch("prd", true, false);
    w.fake.reset_counters();
    let run = w.run(120, "validate", &[]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(
            "flag out of order: new_db is on in prd while stg is not live everywhere yet (held up by acme/apple-00, acme/apple-01, acme/apple-02)"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        w.fake.counters().content_creating,
        0,
        "validate never writes"
    );
}

/// The holders of a stage as the dashboard words them (the first `n`, then
/// how many more), from the JSON of `flags`.
fn holders_text(s: &Value, n: usize) -> String {
    let mut items: Vec<String> = Vec::new();
    for p in s["pending"].as_array().unwrap() {
        let age = distributor::time::human(std::time::Duration::from_secs(
            p["age_secs"].as_u64().unwrap(),
        ));
        items.push(format!(
            "{} pending: #{} open {age}",
            p["repo"].as_str().unwrap(),
            p["pull_request"]
        ));
    }
    for x in s["waiting"].as_array().unwrap() {
        items.push(format!(
            "{} waiting: {}",
            x["repo"].as_str().unwrap(),
            x["reason"].as_str().unwrap()
        ));
    }
    for b in s["blocked"].as_array().unwrap() {
        items.push(format!(
            "{} blocked: {} {}",
            b["repo"].as_str().unwrap(),
            b["path"].as_str().unwrap(),
            b["state"].as_str().unwrap()
        ));
    }
    let mut line = items.iter().take(n).cloned().collect::<Vec<_>>().join("; ");
    if items.len() > n {
        line.push_str(&format!("; and {} more", items.len() - n));
    }
    line
}

#[test]
fn the_dashboard_flags_panel_shows_what_flags_shows() {
    use common::browser::{cells, find_browser, run_browser, section};
    let browser = find_browser();
    // Six repos: canary apple-00 (direct) and apple-01 (pull request), the
    // default wave behind its hour of soak, one of them hand-edited. The
    // onboarding happened three hours ago; the flag is switched on now (the
    // daemon reads the real clock).
    let mut w = World::new(world::fleet().into_iter().take(6).collect(), Some("1h"));
    w.t0 -= 3 * HOUR;
    w.apply(0);
    assert_eq!(w.merge_all(&[]), 1);
    w.apply(60);
    w.apply(60 + HOUR + 1);
    assert_eq!(w.merge_all(&[]), 1);
    assert_eq!(flags_json(&w, w.real_offset()).0, 0, "in sync");
    hand_edit(&w, "apple-05");
    w.switch("dev", true, true);
    w.apply(w.real_offset());
    let pr = w.pull("apple-01").number;
    let opened = distributor::time::rfc3339(distributor::time::now() - 2 * HOUR);
    w.fake.set_pull_created_at(OWNER, "apple-01", pr, &opened);

    // The daemon's first cycle observes the fleet and has nothing to write.
    let before = w.fake.counters().content_creating;
    let daemon = flags_github::daemon::start(&w);
    let status = daemon.wait_cycle(1);
    assert_eq!(status["last_cycle"]["outcome"], "ok", "{status}");
    assert_eq!(
        w.fake.counters().content_creating,
        before,
        "the cycle wrote nothing"
    );
    let profile = tempfile::tempdir().unwrap();
    let dom = run_browser(
        &browser,
        profile.path(),
        &["--dump-dom", &format!("http://{}/", daemon.addr)],
    );
    let (code, report) = flags_json(&w, w.real_offset());
    assert_eq!(code, 2, "{report}");
    drop(daemon);

    let dev = stage(&report, "dev");
    assert_eq!(counts(dev), (1, 1, 3, 1), "{dev}");
    let rows = cells(section(&dom, "flags"));
    assert_eq!(rows.len(), 3, "one row per stage: {rows:?}");
    for (i, row) in rows.iter().enumerate() {
        let s = &report["flags"][0]["stages"][i];
        let (live, pending, waiting, blocked) = counts(s);
        assert_eq!(row.len(), 8, "{row:?}");
        assert_eq!(row[1], s["stage"].as_str().unwrap(), "{row:?}");
        let shown: Vec<usize> = row[3..7].iter().map(|c| c.parse().unwrap()).collect();
        assert_eq!(shown, vec![live, pending, waiting, blocked], "{row:?}");
        let holders = holders_text(s, 3);
        if holders.is_empty() {
            assert_eq!(row[7], "—", "{row:?}");
        } else {
            assert_eq!(row[7], holders, "{row:?}");
        }
    }
    assert!(rows[0][0].starts_with("new_db"), "{:?}", rows[0]);
    assert_eq!(rows[0][2], "on");
    assert!(
        rows[0][7].starts_with(&format!("acme/apple-01 pending: #{pr} open 2h; acme/apple-02 waiting: wave default waits for wave canary")),
        "{:?}",
        rows[0]
    );
    assert!(rows[0][7].ends_with("; and 2 more"), "{:?}", rows[0]);
    // /status carries the same report (ages aside: another clock read).
    let strip = |v: &Value| {
        let mut v = v.clone();
        for s in v[0]["stages"].as_array_mut().unwrap() {
            for p in s["pending"].as_array_mut().unwrap() {
                p["age_secs"] = Value::Null;
            }
        }
        v
    };
    assert_eq!(strip(&status["flags"]), strip(&report["flags"]));
}
