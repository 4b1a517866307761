//! The pure half of `POST /webhook`: checking GitHub's HMAC signature
//! against the raw body, and deciding from the event name and payload
//! whether a delivery asks for a cycle. No I/O and no state: the HTTP
//! handler in [`super::http`] reads the body, calls these, and sends the
//! resulting [`CycleRequest`]. Nothing here logs or returns the secret.

use octocrab::models::webhook_events::verification::verify_signature;
use octocrab::secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{CycleRequest, Trigger, WebhookSettings};

/// The header carrying `sha256=<hex HMAC of the body>`.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// The header naming the event (`push`, `pull_request`, `ping`, ...).
pub const EVENT_HEADER: &str = "x-github-event";
/// GitHub's id of one delivery, for logs (redeliveries keep it).
pub const DELIVERY_HEADER: &str = "x-github-delivery";

/// Whether `header` (the `X-Hub-Signature-256` value, if any) is the
/// HMAC-SHA256 of `body` under `secret`. The comparison is constant time
/// (octocrab's `verify_signature`); a missing header, a `sha1=` signature
/// or malformed hex are all simply "not verified".
pub fn verify(header: Option<&str>, secret: &SecretString, body: &[u8]) -> bool {
    match header {
        Some(h) => verify_signature(h, secret.expose_secret().as_bytes(), body).is_ok(),
        None => false,
    }
}

/// Whether `header` looks like a signature worth checking: `sha256=`
/// and 64 hex digits. Anything else is refused before the body is read.
pub fn well_formed(header: &str) -> bool {
    header
        .strip_prefix("sha256=")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What a verified delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `ping`: GitHub checking the hook works.
    Pong,
    /// Queue this cycle.
    Cycle(CycleRequest),
    /// Nothing to do, and why (shown to whoever reads the delivery log).
    Ignored(String),
    /// The payload is not what GitHub sends for this event.
    Invalid(String),
}

/// The fields of a `push` payload that matter.
#[derive(Deserialize)]
struct PushEvent {
    #[serde(rename = "ref")]
    git_ref: String,
    repository: Repository,
}

/// The fields of a `pull_request` payload that matter.
#[derive(Deserialize)]
struct PullRequestEvent {
    pull_request: PullRequest,
    repository: Repository,
}

#[derive(Deserialize)]
struct PullRequest {
    head: Head,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "ref")]
    git_ref: String,
    /// `None` when the head repository was deleted.
    repo: Option<Repository>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

/// Decides what a delivery of `event` with payload `body` asks for. Only
/// called once the signature is verified.
///
/// - `push` to the platform repository's branch: a full cycle.
/// - `pull_request` whose head is a proposal branch of a registry repo (and
///   not from a fork): a cycle of that repo only, so its ledger entry
///   follows merges, closes and reviews. `only` holds the name lower-cased,
///   as in [`WebhookSettings::repos`].
/// - `ping`: [`Decision::Pong`]; anything else is ignored.
pub fn classify(event: &str, body: &[u8], settings: &WebhookSettings) -> Decision {
    match event {
        "ping" => Decision::Pong,
        "push" => match parse::<PushEvent>(event, body) {
            Ok(push) => classify_push(&push, settings),
            Err(d) => d,
        },
        "pull_request" => match parse::<PullRequestEvent>(event, body) {
            Ok(pr) => classify_pull_request(&pr, settings),
            Err(d) => d,
        },
        "" => Decision::Ignored("no X-GitHub-Event header".into()),
        other => Decision::Ignored(format!("event `{other}` is not used")),
    }
}

fn parse<'a, T: Deserialize<'a>>(event: &str, body: &'a [u8]) -> Result<T, Decision> {
    serde_json::from_slice(body).map_err(|e| {
        let hint = if body.starts_with(b"payload=") {
            " (set the webhook's content type to application/json)"
        } else {
            ""
        };
        Decision::Invalid(format!("`{event}` payload is not valid: {e}{hint}"))
    })
}

fn classify_push(push: &PushEvent, settings: &WebhookSettings) -> Decision {
    let Some(platform) = &settings.platform_repository else {
        return Decision::Ignored(
            "no platform repository is configured (platform.repository)".into(),
        );
    };
    let repo = &push.repository.full_name;
    if !repo.eq_ignore_ascii_case(platform) {
        return Decision::Ignored(format!("push to {repo}, not the platform repository"));
    }
    let wanted = format!("refs/heads/{}", settings.platform_branch);
    if push.git_ref != wanted {
        return Decision::Ignored(format!(
            "push to {} of {repo}, not the platform branch {wanted}",
            push.git_ref
        ));
    }
    Decision::Cycle(CycleRequest {
        trigger: Trigger::Webhook,
        only: vec![],
    })
}

fn classify_pull_request(pr: &PullRequestEvent, settings: &WebhookSettings) -> Decision {
    let head = &pr.pull_request.head;
    let repo = pr.repository.full_name.to_lowercase();
    if !settings.proposal_branches.contains(&head.git_ref) {
        return Decision::Ignored(format!(
            "pull request from {}, not a proposal branch",
            head.git_ref
        ));
    }
    if !settings.repos.contains(&repo) {
        return Decision::Ignored(format!("{repo} is not in the registry"));
    }
    if let Some(head_repo) = &head.repo
        && !head_repo.full_name.eq_ignore_ascii_case(&repo)
    {
        return Decision::Ignored(format!(
            "pull request from a fork ({}), not distributor's",
            head_repo.full_name
        ));
    }
    Decision::Cycle(CycleRequest {
        trigger: Trigger::PullRequest,
        only: vec![repo],
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Signs `body` as GitHub does.
    pub(crate) fn sign(secret: &str, body: &[u8]) -> String {
        use hmac::Mac as _;
        use std::fmt::Write as _;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(body);
        let mut out = String::from("sha256=");
        for b in mac.finalize().into_bytes() {
            let _ = write!(out, "{b:02x}");
        }
        out
    }

    /// Settings for a platform at `acme/platform` on `main`, proposal
    /// branch `distributor/sync`, and two registry repos.
    pub(crate) fn settings(secret: Option<&str>) -> WebhookSettings {
        WebhookSettings {
            secret: secret.map(|s| SecretString::from(s.to_string())),
            platform_repository: Some("acme/platform".into()),
            platform_branch: "main".into(),
            body_limit: 4096,
            proposal_branches: ["distributor/sync".to_string()].into(),
            repos: ["acme/api".to_string(), "acme/web".to_string()].into(),
        }
    }

    pub(crate) fn push_body(repo: &str, git_ref: &str) -> Vec<u8> {
        serde_json::json!({
            "ref": git_ref,
            "before": "0000000000000000000000000000000000000000",
            "repository": { "full_name": repo, "name": "platform" },
        })
        .to_string()
        .into_bytes()
    }

    pub(crate) fn pull_request_body(repo: &str, head: &str) -> Vec<u8> {
        serde_json::json!({
            "action": "closed",
            "number": 12,
            "pull_request": { "number": 12, "head": { "ref": head, "repo": { "full_name": repo } } },
            "repository": { "full_name": repo },
        })
        .to_string()
        .into_bytes()
    }

    /// GitHub's documented example (docs: "Validating webhook deliveries").
    const GITHUB_VECTOR: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_documented_test_vector_verifies() {
        let secret = SecretString::from("It's a Secret to Everybody");
        assert!(verify(Some(GITHUB_VECTOR), &secret, b"Hello, World!"));
        assert_eq!(
            sign("It's a Secret to Everybody", b"Hello, World!"),
            GITHUB_VECTOR
        );
    }

    #[test]
    fn wrong_missing_or_legacy_signatures_do_not_verify() {
        let secret = SecretString::from("It's a Secret to Everybody");
        assert!(!verify(None, &secret, b"Hello, World!"));
        assert!(!verify(Some(GITHUB_VECTOR), &secret, b"Hello, World?"));
        let other = SecretString::from("another secret");
        assert!(!verify(Some(GITHUB_VECTOR), &other, b"Hello, World!"));
        assert!(!verify(Some("sha1=0123"), &secret, b"Hello, World!"));
        assert!(!verify(Some("sha256=zz"), &secret, b"Hello, World!"));
        assert!(!verify(Some(""), &secret, b"Hello, World!"));
        // Upper-case hex of the right digest still verifies; a truncated one does not.
        assert!(verify(
            Some(&GITHUB_VECTOR.to_uppercase().replace("SHA256=", "sha256=")),
            &secret,
            b"Hello, World!"
        ));
        assert!(!verify(
            Some(&GITHUB_VECTOR[..40]),
            &secret,
            b"Hello, World!"
        ));
    }

    #[test]
    fn push_to_the_platform_branch_asks_for_a_full_cycle() {
        let s = settings(Some("x"));
        let d = classify("push", &push_body("Acme/Platform", "refs/heads/main"), &s);
        assert_eq!(
            d,
            Decision::Cycle(CycleRequest {
                trigger: Trigger::Webhook,
                only: vec![]
            })
        );
    }

    #[test]
    fn other_pushes_are_ignored_with_a_reason() {
        let s = settings(Some("x"));
        let d = classify(
            "push",
            &push_body("acme/platform", "refs/heads/feature"),
            &s,
        );
        assert!(
            matches!(&d, Decision::Ignored(why) if why.contains("refs/heads/feature")),
            "{d:?}"
        );
        let d = classify("push", &push_body("acme/platform", "refs/tags/main"), &s);
        assert!(matches!(d, Decision::Ignored(_)), "{d:?}");
        let d = classify("push", &push_body("acme/other", "refs/heads/main"), &s);
        assert!(
            matches!(&d, Decision::Ignored(why) if why.contains("acme/other")),
            "{d:?}"
        );
        let no_platform = WebhookSettings {
            platform_repository: None,
            ..s
        };
        let d = classify(
            "push",
            &push_body("acme/platform", "refs/heads/main"),
            &no_platform,
        );
        assert!(matches!(d, Decision::Ignored(_)), "{d:?}");
    }

    #[test]
    fn pull_requests_of_proposal_branches_refresh_their_repo() {
        let s = settings(Some("x"));
        let d = classify(
            "pull_request",
            &pull_request_body("Acme/API", "distributor/sync"),
            &s,
        );
        assert_eq!(
            d,
            Decision::Cycle(CycleRequest {
                trigger: Trigger::PullRequest,
                only: vec!["acme/api".into()]
            })
        );
        let d = classify(
            "pull_request",
            &pull_request_body("acme/api", "feature"),
            &s,
        );
        assert!(matches!(d, Decision::Ignored(_)), "{d:?}");
        let d = classify(
            "pull_request",
            &pull_request_body("acme/unknown", "distributor/sync"),
            &s,
        );
        assert!(
            matches!(&d, Decision::Ignored(why) if why.contains("not in the registry")),
            "{d:?}"
        );
    }

    #[test]
    fn pull_requests_from_forks_are_ignored() {
        let body = serde_json::json!({
            "action": "opened",
            "pull_request": { "head": { "ref": "distributor/sync", "repo": { "full_name": "mallory/api" } } },
            "repository": { "full_name": "acme/api" },
        });
        let d = classify("pull_request", body.to_string().as_bytes(), &settings(None));
        assert!(
            matches!(&d, Decision::Ignored(why) if why.contains("fork")),
            "{d:?}"
        );
    }

    #[test]
    fn ping_other_events_and_bad_payloads() {
        let s = settings(Some("x"));
        assert_eq!(classify("ping", b"{}", &s), Decision::Pong);
        assert!(matches!(
            classify("issues", b"{}", &s),
            Decision::Ignored(_)
        ));
        assert!(matches!(classify("", b"{}", &s), Decision::Ignored(_)));
        let d = classify("push", b"payload=%7B%7D", &s);
        assert!(
            matches!(&d, Decision::Invalid(why) if why.contains("application/json")),
            "{d:?}"
        );
        assert!(matches!(classify("push", b"{}", &s), Decision::Invalid(_)));
    }
}
