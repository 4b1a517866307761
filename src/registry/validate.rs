//! Semantic checks of a parsed registry: everything serde cannot express
//! (AWS account and region formats, references to stages, waves and bundles,
//! duplicate repositories, name syntax, durations, dates and waivers). Every
//! problem is collected with its JSON path. Nothing here depends on the
//! current time: an expired waiver is valid (it is reported as expired).

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Flag, Registry, SCHEMA_VERSION};
use crate::diag::{Diagnostics, QUOTED_CHARS, cut, quote};
use crate::paths::{check_branch_name, check_repo_path};
use crate::time::{end_of_date, parse_duration};

/// Validates `registry`, reporting every problem found. `origin` is the file
/// name used in locations.
pub fn validate(origin: &str, registry: &Registry, known_bundles: &[String]) -> Diagnostics {
    let mut d = Diagnostics::default();
    let at = |path: &str| format!("{origin}: {path}");

    if registry.version != SCHEMA_VERSION {
        d.push(
            at("version"),
            format!(
                "schema version {} is not supported; this distributor reads version {SCHEMA_VERSION}",
                registry.version
            ),
        );
    }

    // Stages: the vocabulary of environment names.
    let mut stages = BTreeSet::new();
    if registry.stages.is_empty() {
        d.push(at("stages"), "at least one stage is required");
    }
    for (i, s) in registry.stages.iter().enumerate() {
        if !is_simple_name(s) {
            d.push(
                at(&format!("stages[{i}]")),
                format!(
                    "{} is not a valid stage name (lowercase letters, digits, `-`)",
                    quote(s)
                ),
            );
        }
        if !stages.insert(s.as_str()) {
            d.push(
                at(&format!("stages[{i}]")),
                format!("stage {} is listed twice", quote(s)),
            );
        }
    }

    // The flag order: declared stages, each once.
    let mut ordered = BTreeSet::new();
    for (i, s) in registry.flag_order.iter().flatten().enumerate() {
        if !stages.contains(s.as_str()) {
            d.push(
                at(&format!("flag_order[{i}]")),
                format!(
                    "unknown stage {}; declared stages: {}",
                    quote(s),
                    registry.stages.join(", ")
                ),
            );
        }
        if !ordered.insert(s.as_str()) {
            d.push(
                at(&format!("flag_order[{i}]")),
                format!("stage {} is listed twice", quote(s)),
            );
        }
    }

    // Waves.
    let mut waves = BTreeSet::new();
    for (i, w) in registry.waves.iter().enumerate() {
        if !is_simple_name(&w.name) {
            d.push(
                at(&format!("waves[{i}].name")),
                format!("{} is not a valid wave name", quote(&w.name)),
            );
        }
        if !waves.insert(w.name.as_str()) {
            d.push(
                at(&format!("waves[{i}].name")),
                format!("wave {} is declared twice", quote(&w.name)),
            );
        }
        if let Some(soak) = &w.soak
            && let Err(e) = parse_duration(soak)
        {
            d.push(at(&format!("waves[{i}].soak")), shorten(e, soak));
        }
    }
    let check_wave = |d: &mut Diagnostics, path: String, wave: &str| {
        if !waves.contains(wave) {
            let known: Vec<_> = waves.iter().copied().collect();
            d.push(
                at(&path),
                if known.is_empty() {
                    format!(
                        "wave {} is not declared (the registry declares no `waves`)",
                        quote(wave)
                    )
                } else {
                    format!(
                        "unknown wave {}; declared waves: {}",
                        quote(wave),
                        known.join(", ")
                    )
                },
            );
        }
    };

    let bundles: BTreeSet<&str> = known_bundles.iter().map(String::as_str).collect();
    let check_bundles = |d: &mut Diagnostics, path: String, list: &[String]| {
        let mut seen = BTreeSet::new();
        for (i, b) in list.iter().enumerate() {
            if !bundles.contains(b.as_str()) {
                d.push(
                    at(&format!("{path}[{i}]")),
                    format!(
                        "unknown bundle {}; bundles under the templates directory: {}",
                        quote(b),
                        known_bundles.join(", ")
                    ),
                );
            }
            if !seen.insert(b) {
                d.push(
                    at(&format!("{path}[{i}]")),
                    format!("bundle {} is listed twice", quote(b)),
                );
            }
        }
    };
    let check_flags = |d: &mut Diagnostics, path: String, flags: &BTreeMap<String, Flag>| {
        for (name, flag) in flags {
            if !is_identifier(name) {
                d.push(
                    at(&format!("{path}.{}", cut(name))),
                    format!(
                        "flag name {} must be an identifier (letters, digits, `_`)",
                        quote(name)
                    ),
                );
            }
            if let Flag::PerStage(map) = flag {
                for stage in map.keys() {
                    if !stages.contains(stage.as_str()) {
                        d.push(
                            at(&format!("{path}.{}.{}", cut(name), cut(stage))),
                            format!(
                                "unknown stage {}; declared stages: {}",
                                quote(stage),
                                registry.stages.join(", ")
                            ),
                        );
                    }
                }
            }
        }
    };

    // Defaults.
    let defaults = &registry.defaults;
    if !is_github_login(&defaults.owner) {
        d.push(
            at("defaults.owner"),
            format!(
                "{} is not a valid GitHub organisation or user name",
                quote(&defaults.owner)
            ),
        );
    }
    check_bundles(&mut d, "defaults.bundles".into(), &defaults.bundles);
    if let Some(w) = &defaults.wave {
        check_wave(&mut d, "defaults.wave".into(), w);
    }
    if defaults.proposal_branch == "HEAD" {
        d.push(
            at("defaults.proposal_branch"),
            "\"HEAD\" names whatever branch is checked out, not a branch of its own: choose a branch name such as \"distributor/sync\"",
        );
    } else if let Err(e) = check_branch_name(&defaults.proposal_branch) {
        d.push(
            at("defaults.proposal_branch"),
            shorten(e, &defaults.proposal_branch),
        );
    }
    if let Err(e) = check_repo_path(&defaults.lock_path) {
        d.push(at("defaults.lock_path"), shorten(e, &defaults.lock_path));
    }
    check_flags(&mut d, "defaults.flags".into(), &defaults.flags);

    // Teams and repos.
    let mut seen_repos: BTreeMap<String, String> = BTreeMap::new();
    if registry.teams.0.is_empty() {
        d.push(at("teams"), "no teams are defined");
    }
    for (team_name, team) in &registry.teams.0 {
        let tp = format!("teams.{}", cut(team_name));
        if !is_simple_name(team_name) {
            d.push(
                at(&tp),
                format!(
                    "team name {} must use lowercase letters, digits and `-`",
                    quote(team_name)
                ),
            );
        }
        if team.owners.teams.is_empty() && team.owners.users.is_empty() {
            d.push(
                at(&format!("{tp}.owners")),
                "a team needs at least one owner (a GitHub team slug or user)",
            );
        }
        for (i, slug) in team.owners.teams.iter().enumerate() {
            let ok = slug
                .split_once('/')
                .is_some_and(|(org, t)| is_github_login(org) && is_slug(t));
            if !ok {
                d.push(
                    at(&format!("{tp}.owners.teams[{i}]")),
                    format!(
                        "{} is not a GitHub team reference of the form `org/team-slug`",
                        quote(slug)
                    ),
                );
            }
        }
        for (i, user) in team.owners.users.iter().enumerate() {
            if !is_github_login(user) {
                d.push(
                    at(&format!("{tp}.owners.users[{i}]")),
                    format!("{} is not a valid GitHub user name", quote(user)),
                );
            }
        }
        for (stage, env) in &team.environments.0 {
            let ep = format!("{tp}.environments.{}", cut(stage));
            if !stages.contains(stage.as_str()) {
                d.push(
                    at(&ep),
                    format!(
                        "unknown stage {}; declared stages: {}",
                        quote(stage),
                        registry.stages.join(", ")
                    ),
                );
            }
            if !(env.account.len() == 12 && env.account.bytes().all(|b| b.is_ascii_digit())) {
                d.push(
                    at(&format!("{ep}.account")),
                    format!(
                        "{} is not an AWS account id (exactly 12 digits)",
                        quote(&env.account)
                    ),
                );
            }
            if !is_aws_region(&env.region) {
                d.push(
                    at(&format!("{ep}.region")),
                    format!(
                        "{} is not an AWS region name (like `eu-west-1` or `us-gov-east-1`)",
                        quote(&env.region)
                    ),
                );
            }
        }
        if let Some(list) = &team.bundles {
            check_bundles(&mut d, format!("{tp}.bundles"), list);
        }
        check_flags(&mut d, format!("{tp}.flags"), &team.flags);
        if team.repos.is_empty() {
            d.push(at(&format!("{tp}.repos")), "a team needs at least one repo");
        }
        for (i, repo) in team.repos.iter().enumerate() {
            let rp = format!("{tp}.repos[{i}]");
            if !is_repo_name(&repo.name) {
                d.push(
                    at(&format!("{rp}.name")),
                    format!(
                        "{} is not a valid GitHub repository name",
                        quote(&repo.name)
                    ),
                );
            }
            let owner = repo.owner.as_deref().unwrap_or(&defaults.owner);
            if let Some(o) = &repo.owner
                && !is_github_login(o)
            {
                d.push(
                    at(&format!("{rp}.owner")),
                    format!(
                        "{} is not a valid GitHub organisation or user name",
                        quote(o)
                    ),
                );
            }
            // GitHub names are case-insensitive: Foo/Bar and foo/bar are one repo.
            let full = format!("{owner}/{}", repo.name).to_ascii_lowercase();
            if let Some(first) = seen_repos.get(&full) {
                d.push(
                    at(&format!("{rp}.name")),
                    format!(
                        "repository {}/{} is already listed at {first}",
                        cut(owner),
                        cut(&repo.name)
                    ),
                );
            } else {
                seen_repos.insert(full, rp.clone());
            }
            if let Some(b) = &repo.default_branch {
                if let Err(e) = check_branch_name(b) {
                    d.push(at(&format!("{rp}.default_branch")), shorten(e, b));
                } else if *b == defaults.proposal_branch {
                    d.push(
                        at(&format!("{rp}.default_branch")),
                        format!(
                            "{} is also the proposal branch (defaults.proposal_branch): reviewed changes would be committed straight to the default branch; choose another proposal branch",
                            quote(b)
                        ),
                    );
                } else if let Some(message) = branch_namespace_clash(b, &defaults.proposal_branch) {
                    d.push(at(&format!("{rp}.default_branch")), message);
                }
            }
            if let Some(list) = &repo.bundles {
                check_bundles(&mut d, format!("{rp}.bundles"), list);
            }
            check_bundles(&mut d, format!("{rp}.skip_bundles"), &repo.skip_bundles);
            for (j, p) in repo.skip_files.iter().enumerate() {
                if let Err(e) = check_repo_path(p) {
                    d.push(at(&format!("{rp}.skip_files[{j}]")), shorten(e, p));
                }
            }
            if let Some(w) = &repo.wave {
                check_wave(&mut d, format!("{rp}.wave"), w);
            }
            check_flags(&mut d, format!("{rp}.flags"), &repo.flags);
        }
    }

    // Rollout settings (counts are checked by their type when parsing).
    let rollout = &registry.rollout;
    for (key, value) in [
        ("stale_after", &rollout.stale_after),
        ("escalate_after", &rollout.escalate_after),
    ] {
        if let Some(text) = value
            && let Err(e) = parse_duration(text)
        {
            d.push(at(&format!("rollout.{key}")), shorten(e, text));
        }
    }
    if rollout.halt_after_failures == Some(0) {
        d.push(
            at("rollout.halt_after_failures"),
            "must be at least 1 (the number of failures of one revision that halt its rollout)",
        );
    }

    // Waivers: a named repo, exactly one scope, an owner, a real date.
    for (i, w) in registry.waivers.iter().enumerate() {
        let wp = format!("waivers[{i}]");
        let (owner, name) = w
            .repo
            .split_once('/')
            .unwrap_or((defaults.owner.as_str(), w.repo.as_str()));
        if !seen_repos.contains_key(&format!("{owner}/{name}").to_ascii_lowercase()) {
            d.push(
                at(&format!("{wp}.repo")),
                format!("no repo {} in the registry", quote(&w.repo)),
            );
        }
        match (&w.file, &w.bundle) {
            (Some(_), Some(_)) | (None, None) => {
                d.push(at(&wp), r#"give exactly one of "file" or "bundle""#);
            }
            (Some(file), None) => {
                if let Err(e) = check_repo_path(file) {
                    d.push(at(&format!("{wp}.file")), shorten(e, file));
                }
            }
            (None, Some(bundle)) => {
                if !bundles.contains(bundle.as_str()) {
                    d.push(
                        at(&format!("{wp}.bundle")),
                        format!(
                            "unknown bundle {}; bundles under the templates directory: {}",
                            quote(bundle),
                            known_bundles.join(", ")
                        ),
                    );
                }
            }
        }
        if w.owner.trim().is_empty() {
            d.push(
                at(&format!("{wp}.owner")),
                "a waiver needs an owner: the person or team accountable for it",
            );
        }
        if end_of_date(&w.expires).is_none() {
            d.push(
                at(&format!("{wp}.expires")),
                format!("{} is not a date (YYYY-MM-DD)", quote(&w.expires)),
            );
        }
    }
    d
}

/// A default branch and the proposal branch where one is a folder of the
/// other (`trunk` and `trunk/sync`): git keeps a branch as a file under
/// `refs/heads/`, so both cannot exist in one repository.
fn branch_namespace_clash(default: &str, proposal: &str) -> Option<String> {
    let (folder, inside) = if proposal.starts_with(&format!("{default}/")) {
        (default, proposal)
    } else if default.starts_with(&format!("{proposal}/")) {
        (proposal, default)
    } else {
        return None;
    };
    Some(format!(
        "the default branch {} and the proposal branch {} (defaults.proposal_branch) cannot both exist: git cannot hold a branch {} and a branch inside it ({}); choose another proposal branch",
        quote(default),
        quote(proposal),
        quote(folder),
        quote(inside)
    ))
}

/// `message` (from a shared check that quotes `value` whole, as `{:?}` or
/// in backticks) with `value` cut to a readable length.
fn shorten(message: String, value: &str) -> String {
    if value.chars().count() <= QUOTED_CHARS {
        return message;
    }
    message
        .replace(&format!("{value:?}"), &quote(value))
        .replace(&format!("`{value}`"), &format!("`{}`", cut(value)))
}

fn is_simple_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !s.starts_with('-')
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// GitHub logins: alphanumerics and single hyphens, no leading or trailing
/// hyphen, at most 39 characters.
fn is_github_login(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 39
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// GitHub repository names: letters, digits, `.`, `-`, `_`, at most 100.
fn is_repo_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s != "."
        && s != ".."
        && !s.ends_with(".git")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

/// `xx-name-N` or `xx-gov-name-N` (AWS's published region naming).
fn is_aws_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let word = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    let num = |p: &str| !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [geo, name, n] => geo.len() == 2 && word(geo) && word(name) && num(n),
        [geo, gov, name, n] => {
            geo.len() == 2 && word(geo) && (*gov == "gov" || *gov == "iso") && word(name) && num(n)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_values_are_cut_in_messages() {
        let name = "x".repeat(10 * 1024 * 1024);
        let branch = format!("bad {name}");
        let text = serde_json::json!({
            "version": 1,
            "stages": ["dev"],
            "defaults": { "owner": "acme", "proposal_branch": branch },
            "teams": { "kiwi": {
                "owners": { "users": ["kim"] },
                "repos": [ { "name": format!("{name}!") } ]
            } }
        })
        .to_string();
        let registry = crate::registry::parse("registry.json", &text).unwrap();
        let d = validate("registry.json", &registry, &[]);
        let head = "x".repeat(QUOTED_CHARS);
        let messages: Vec<String> = d.0.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            messages,
            [
                format!(
                    "registry.json: defaults.proposal_branch: \"bad {}\"… (10485764 bytes) \
                     is not a valid git branch name: it contains a space",
                    &head[..QUOTED_CHARS - 4]
                ),
                format!(
                    "registry.json: teams.kiwi.repos[0].name: \"{head}\"… (10485761 bytes) \
                     is not a valid GitHub repository name"
                ),
            ]
        );
    }

    #[test]
    fn region_format() {
        for ok in [
            "eu-west-1",
            "eu-central-1",
            "us-east-1",
            "us-gov-west-1",
            "ap-southeast-2",
        ] {
            assert!(is_aws_region(ok), "{ok}");
        }
        for bad in [
            "eu-west",
            "EU-WEST-1",
            "euwest1",
            "eu-west-1a",
            "e-west-1",
            "",
        ] {
            assert!(!is_aws_region(bad), "{bad}");
        }
    }

    #[test]
    fn login_format() {
        assert!(is_github_login("acme-corp"));
        assert!(!is_github_login("-acme"));
        assert!(!is_github_login("acme--corp"));
        assert!(!is_github_login("acme_corp"));
    }

    #[test]
    fn repo_name_format() {
        assert!(is_repo_name("mango-api"));
        assert!(is_repo_name("a.b_c"));
        assert!(!is_repo_name(".."));
        assert!(!is_repo_name("x/y"));
        assert!(!is_repo_name("x.git"));
    }
}
