//! Variable layering: turns a validated registry into one [`ResolvedRepo`]
//! per target repository, with variables merged defaults < team < repo
//! (< environment, for files rendered once per environment) and flags
//! resolved per stage. The template context (what templates see, and what
//! `distributor context` prints) is built here too. Variables are layered
//! as shared template values ([`super::shared`]): a large variable is held
//! once for the whole fleet, not once per repo.

use std::collections::BTreeMap;

use minijinja::value::Value as JValue;
use serde::Serialize;

use super::model::{Delivery, Flag, Registry};
use super::rollout::{Waiver, names_repo};
use super::shared;
use crate::render::flags;

/// A target repository with everything inherited resolved.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedRepo {
    pub owner: String,
    pub name: String,
    pub team: String,
    /// `None`: ask the forge.
    pub default_branch: Option<String>,
    pub delivery: Delivery,
    /// The repo's wave, else `defaults.wave`, else none.
    pub wave: Option<String>,
    /// Bundles in the order they are listed, opt-outs removed.
    pub bundles: Vec<String>,
    /// Target paths the repo opted out of.
    pub skip_files: Vec<String>,
    pub proposal_branch: String,
    pub lock_path: String,
    /// defaults < team < repo, deep-merged; a map sharing what the layers
    /// did not change.
    pub vars: JValue,
    /// Every flag, normalised to one value per declared stage.
    pub flags_by_stage: BTreeMap<String, BTreeMap<String, bool>>,
    /// Flags that have one value for all stages.
    pub uniform_flags: BTreeMap<String, bool>,
    /// The team's environments in stage order.
    pub environments: Vec<ResolvedEnv>,
    /// Every flag's value in each stage the registry declares (stage ->
    /// flag -> on), kept after rendering: what `distributor flags`
    /// compares the fleet with.
    #[serde(skip)]
    pub stage_flags: BTreeMap<String, BTreeMap<String, bool>>,
    /// The stages the repo's team has an environment for, kept after
    /// rendering.
    #[serde(skip)]
    pub env_stages: Vec<String>,
    pub team_description: Option<String>,
    pub owners_teams: Vec<String>,
    pub owners_users: Vec<String>,
    pub author_name: String,
    pub author_email: String,
    pub pull_request: crate::registry::model::PullRequestSettings,
    /// The registry's waivers naming this repo, in registry order, expired
    /// ones included.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<Waiver>,
}

/// One environment of the repo's team, variables fully layered.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedEnv {
    pub name: String,
    pub account: String,
    pub region: String,
    pub description: Option<String>,
    /// repo vars < environment vars (shared like [`ResolvedRepo::vars`]).
    pub vars: JValue,
    /// Every flag's value for this stage.
    pub flags: BTreeMap<String, bool>,
}

impl ResolvedRepo {
    /// Drops what only rendering reads (variables, environments, flags):
    /// after rendering, a target keeps what planning and output need.
    pub fn release_render_context(&mut self) {
        self.vars = shared::empty();
        self.flags_by_stage = BTreeMap::new();
        self.uniform_flags = BTreeMap::new();
        self.environments = Vec::new();
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The context of files rendered once per repo, as templates see it
    /// (what `distributor context` prints).
    pub fn repo_context(&self) -> BTreeMap<String, JValue> {
        let mut ctx = self.recorded_repo_context(&flags::Recorder::default());
        ctx.remove(flags::RECORDER_KEY);
        ctx
    }

    /// The context of a file rendered for one environment, as templates
    /// see it.
    pub fn env_context(&self, env: &ResolvedEnv) -> BTreeMap<String, JValue> {
        let mut ctx = self.recorded_env_context(env, &flags::Recorder::default());
        ctx.remove(flags::RECORDER_KEY);
        ctx
    }

    /// The context of files rendered once per repo, as template values:
    /// the variables are shared, not copied. Every flag value a template
    /// reads is noted in `reads` ([`flags`]).
    pub fn recorded_repo_context(&self, reads: &flags::Recorder) -> BTreeMap<String, JValue> {
        let repo = RepoFacts {
            owner: &self.owner,
            name: &self.name,
            full_name: self.full_name(),
            default_branch: self.default_branch.as_deref(),
            delivery: self.delivery,
            wave: self.wave.as_deref(),
            bundles: &self.bundles,
            lock_path: &self.lock_path,
        };
        let team = serde_json::json!({
            "name": self.team,
            "description": self.team_description,
            "owners": { "teams": self.owners_teams, "users": self.owners_users },
        });
        let environments: Vec<JValue> = self.environments.iter().map(|e| e.value(reads)).collect();
        BTreeMap::from([
            ("repo".to_string(), shared::value(&repo)),
            ("team".to_string(), shared::value(&team)),
            ("environments".to_string(), JValue::from(environments)),
            ("vars".to_string(), self.vars.clone()),
            (
                "flags".to_string(),
                flags::for_repo(&self.flags_by_stage, &self.uniform_flags, reads),
            ),
            (
                "flags_by_stage".to_string(),
                flags::by_stage(&self.flags_by_stage, reads),
            ),
            (flags::RECORDER_KEY.to_string(), reads.value()),
        ])
    }

    /// The context of a file rendered for one environment: the repo context
    /// plus `env`, with `vars` and `flags` narrowed to that environment.
    pub fn recorded_env_context(
        &self,
        env: &ResolvedEnv,
        reads: &flags::Recorder,
    ) -> BTreeMap<String, JValue> {
        let mut ctx = self.recorded_repo_context(reads);
        ctx.insert("env".into(), env.value(reads));
        ctx.insert("vars".into(), env.vars.clone());
        ctx.insert(
            "flags".into(),
            flags::for_stage(&env.flags, &env.name, reads),
        );
        ctx
    }
}

impl ResolvedEnv {
    /// The environment as a template value, its flags read in its stage.
    fn value(&self, reads: &flags::Recorder) -> JValue {
        let description = match &self.description {
            Some(d) => JValue::from(d.as_str()),
            None => JValue::from(()),
        };
        JValue::from(BTreeMap::from([
            ("name", JValue::from(self.name.as_str())),
            ("account", JValue::from(self.account.as_str())),
            ("region", JValue::from(self.region.as_str())),
            ("description", description),
            ("vars", self.vars.clone()),
            ("flags", flags::for_stage(&self.flags, &self.name, reads)),
        ]))
    }
}

/// `repo` in the template context.
#[derive(Serialize)]
struct RepoFacts<'a> {
    owner: &'a str,
    name: &'a str,
    full_name: String,
    default_branch: Option<&'a str>,
    delivery: Delivery,
    wave: Option<&'a str>,
    bundles: &'a [String],
    lock_path: &'a str,
}

/// Resolves every repo of the registry, in registry order (teams sorted by
/// name, repos as listed).
pub fn resolve(registry: &Registry) -> Vec<ResolvedRepo> {
    let d = &registry.defaults;
    let mut out = Vec::new();
    // Each layer is converted once; repos share what they do not override.
    let default_vars = shared::layer(&d.vars);
    for (team_name, team) in &registry.teams.0 {
        let team_vars = shared::merge(&default_vars, &shared::layer(&team.vars));
        let env_layers: BTreeMap<&String, JValue> = team
            .environments
            .0
            .iter()
            .map(|(stage, e)| (stage, shared::layer(&e.vars)))
            .collect();
        for repo in &team.repos {
            let vars = shared::merge(&team_vars, &shared::layer(&repo.vars));

            let mut flags: BTreeMap<String, Flag> = d.flags.clone();
            flags.extend(team.flags.clone());
            flags.extend(repo.flags.clone());
            let mut flags_by_stage = BTreeMap::new();
            let mut uniform_flags = BTreeMap::new();
            for (name, flag) in &flags {
                let per_stage: BTreeMap<String, bool> = registry
                    .stages
                    .iter()
                    .map(|s| (s.clone(), flag_value(flag, s)))
                    .collect();
                if let Flag::All(b) = flag {
                    uniform_flags.insert(name.clone(), *b);
                }
                flags_by_stage.insert(name.clone(), per_stage);
            }

            let environments: Vec<ResolvedEnv> = registry
                .stages
                .iter()
                .filter_map(|stage| team.environments.0.get(stage).map(|e| (stage, e)))
                .map(|(stage, e)| {
                    let env_vars = match env_layers.get(stage) {
                        Some(layer) => shared::merge(&vars, layer),
                        None => vars.clone(),
                    };
                    ResolvedEnv {
                        name: stage.clone(),
                        account: e.account.clone(),
                        region: e.region.clone(),
                        description: e.description.clone(),
                        vars: env_vars,
                        flags: flags
                            .iter()
                            .map(|(n, f)| (n.clone(), flag_value(f, stage)))
                            .collect(),
                    }
                })
                .collect();

            let inherited = repo
                .bundles
                .clone()
                .or_else(|| team.bundles.clone())
                .unwrap_or_else(|| d.bundles.clone());
            let bundles = inherited
                .into_iter()
                .filter(|b| !repo.skip_bundles.contains(b))
                .collect();

            let owner = repo.owner.clone().unwrap_or_else(|| d.owner.clone());
            let waivers = registry
                .waivers
                .iter()
                .filter(|w| names_repo(&w.repo, &d.owner, &owner, &repo.name))
                .filter_map(Waiver::from_entry)
                .collect();

            out.push(ResolvedRepo {
                owner,
                name: repo.name.clone(),
                team: team_name.clone(),
                default_branch: repo.default_branch.clone(),
                delivery: repo.delivery.unwrap_or(d.delivery),
                wave: repo.wave.clone().or_else(|| d.wave.clone()),
                bundles,
                skip_files: repo.skip_files.clone(),
                proposal_branch: d.proposal_branch.clone(),
                lock_path: d.lock_path.clone(),
                vars,
                stage_flags: transpose(&registry.stages, &flags_by_stage),
                flags_by_stage,
                uniform_flags,
                env_stages: environments.iter().map(|e| e.name.clone()).collect(),
                environments,
                team_description: team.description.clone(),
                owners_teams: team.owners.teams.clone(),
                owners_users: team.owners.users.clone(),
                author_name: d.commit_author.name.clone(),
                author_email: d.commit_author.email.clone(),
                pull_request: d.pull_request.clone(),
                waivers,
            });
        }
    }
    out
}

/// flag -> stage -> value as stage -> flag -> value, for every stage.
fn transpose(
    stages: &[String],
    by_flag: &BTreeMap<String, BTreeMap<String, bool>>,
) -> BTreeMap<String, BTreeMap<String, bool>> {
    stages
        .iter()
        .map(|stage| {
            let values = by_flag
                .iter()
                .filter_map(|(name, per)| Some((name.clone(), *per.get(stage)?)))
                .collect();
            (stage.clone(), values)
        })
        .collect()
}

/// A flag's value in one stage; a per-stage flag that does not name the
/// stage is off there (flags are switched on stage by stage).
fn flag_value(flag: &Flag, stage: &str) -> bool {
    match flag {
        Flag::All(b) => *b,
        Flag::PerStage(m) => m.get(stage).copied().unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::parse;
    use serde_json::json;

    /// A template value (or context) as JSON, for comparisons.
    fn json_of<T: Serialize>(v: &T) -> serde_json::Value {
        serde_json::to_value(v).unwrap()
    }

    fn registry() -> Registry {
        parse(
            "test.json",
            r#"{
              "version": 1,
              "stages": ["dev", "stg", "prd"],
              "defaults": {
                "owner": "acme",
                "bundles": ["baseline", "security"],
                "vars": {"terraform": {"version": "1.9.0", "dir": "infra"}, "runner": "ubuntu-latest"},
                "flags": {"new_db": {"dev": true, "stg": true, "prd": false}, "audit": true}
              },
              "teams": {
                "mango": {
                  "owners": {"teams": ["acme/mango"]},
                  "vars": {"terraform": {"version": "1.10.0"}, "runner": "self-hosted"},
                  "flags": {"audit": false},
                  "environments": {
                    "prd": {"account": "222222222222", "region": "eu-west-1", "vars": {"runner": "prod-runner"}},
                    "dev": {"account": "111111111111", "region": "eu-central-1"}
                  },
                  "repos": [
                    {"name": "a", "vars": {"terraform": {"dir": "tf"}}, "skip_bundles": ["security"]},
                    {"name": "b", "owner": "other", "bundles": ["security"], "flags": {"new_db": true}}
                  ]
                }
              }
            }"#,
        )
        .unwrap()
    }

    #[test]
    fn variables_layer_defaults_team_repo_env() {
        let repos = resolve(&registry());
        let a = &repos[0];
        // repo overrides dir, team overrides version, defaults-only keys survive deep merge
        assert_eq!(
            json_of(&a.vars)["terraform"],
            json!({"version": "1.10.0", "dir": "tf"})
        );
        assert_eq!(json_of(&a.vars)["runner"], json!("self-hosted"));
        // environment layer on top, environments in stage order (dev before prd)
        assert_eq!(a.environments[0].name, "dev");
        assert_eq!(
            json_of(&a.environments[0].vars)["runner"],
            json!("self-hosted")
        );
        assert_eq!(a.environments[1].name, "prd");
        assert_eq!(
            json_of(&a.environments[1].vars)["runner"],
            json!("prod-runner")
        );
        assert_eq!(
            json_of(&a.environments[1].vars)["terraform"]["dir"],
            json!("tf")
        );
    }

    #[test]
    fn flags_resolve_per_stage_with_overrides() {
        let repos = resolve(&registry());
        let a = &repos[0];
        assert!(a.environments[0].flags["new_db"]); // dev
        assert!(!a.environments[1].flags["new_db"]); // prd
        assert!(!a.environments[1].flags["audit"]); // team overrides default
        assert!(a.flags_by_stage["new_db"]["stg"]);
        assert!(!a.uniform_flags.contains_key("new_db"));
        let b = &repos[1];
        assert!(b.environments[1].flags["new_db"]); // repo forces on everywhere
        assert!(b.uniform_flags["new_db"]);
    }

    #[test]
    fn bundles_inherit_and_opt_out() {
        let repos = resolve(&registry());
        assert_eq!(repos[0].bundles, vec!["baseline"]);
        assert_eq!(repos[1].bundles, vec!["security"]);
        assert_eq!(repos[1].full_name(), "other/b");
        assert_eq!(repos[0].full_name(), "acme/a");
    }

    #[test]
    fn waivers_and_the_effective_wave_resolve_per_repo() {
        let reg = parse(
            "t.json",
            r#"{
              "version": 1,
              "stages": ["dev"],
              "waves": [{"name": "canary", "soak": "2h"}, {"name": "default"}],
              "defaults": {"owner": "acme", "wave": "default"},
              "teams": {"t": {"owners": {"users": ["u"]}, "repos": [
                {"name": "a", "wave": "canary"},
                {"name": "a", "owner": "other"},
                {"name": "b"}
              ]}},
              "waivers": [
                {"repo": "a", "file": "x.yml", "owner": "alice", "expires": "2026-12-31", "reason": "r"},
                {"repo": "other/A", "bundle": "baseline", "owner": "bob", "expires": "2020-01-01"},
                {"repo": "acme/a", "bundle": "baseline", "owner": "carol", "expires": "2027-01-15"}
              ]
            }"#,
        )
        .unwrap();
        let repos = resolve(&reg);
        assert_eq!(repos[0].wave.as_deref(), Some("canary"));
        assert_eq!(repos[1].wave.as_deref(), Some("default"));
        let owners =
            |i: usize| -> Vec<&str> { repos[i].waivers.iter().map(|w| w.owner.as_str()).collect() };
        assert_eq!(owners(0), ["alice", "carol"]);
        assert_eq!(owners(1), ["bob"]); // expired, still listed
        assert!(owners(2).is_empty());
        let w = &repos[0].waivers[0];
        assert_eq!(w.scope, super::super::WaiverScope::File("x.yml".into()));
        assert_eq!(w.reason.as_deref(), Some("r"));
        assert_eq!(w.expires, "2026-12-31");
    }

    #[test]
    fn env_context_narrows_vars_and_flags() {
        let repos = resolve(&registry());
        let a = &repos[0];
        let ctx = a.env_context(&a.environments[1]);
        assert_eq!(json_of(&ctx)["env"]["account"], json!("222222222222"));
        assert_eq!(json_of(&ctx)["vars"]["runner"], json!("prod-runner"));
        assert_eq!(json_of(&ctx)["flags"]["new_db"], json!(false));
        let rc = a.repo_context();
        assert_eq!(json_of(&rc)["flags"]["audit"], json!(false));
        assert_eq!(json_of(&rc)["flags"]["new_db"]["dev"], json!(true));
    }

    #[test]
    fn a_large_variable_is_held_once_for_every_repo_and_context() {
        let big = "x".repeat(1 << 20);
        let text = format!(
            r#"{{"version": 1, "stages": ["dev", "prd"],
                "defaults": {{"owner": "acme", "vars": {{"big": "{big}", "tf": {{"v": 1}}}}}},
                "teams": {{"t": {{"owners": {{"users": ["u"]}},
                  "environments": {{"dev": {{"account": "1", "region": "r", "vars": {{"tf": {{"v": 2}}}}}}}},
                  "repos": [{{"name": "a", "vars": {{"tf": {{"w": 3}}}}}}, {{"name": "b"}}]}}}}}}"#
        );
        let repos = resolve(&parse("t.json", &text).unwrap());
        let ptr = |v: &JValue| v.get_attr("big").unwrap().as_str().unwrap().as_ptr();
        let first = ptr(&repos[0].vars);
        assert_eq!(ptr(&repos[1].vars), first);
        assert_eq!(ptr(&repos[0].environments[0].vars), first);
        let ctx = repos[0].env_context(&repos[0].environments[0]);
        assert_eq!(ptr(&ctx["vars"]), first);
        let env = ctx["environments"].get_item_by_index(0).unwrap();
        assert_eq!(ptr(&env.get_attr("vars").unwrap()), first);
        assert_eq!(
            json_of(&ctx["vars"])["tf"],
            json!({"v": 2, "w": 3}),
            "defaults < team < repo < environment"
        );
    }
}
