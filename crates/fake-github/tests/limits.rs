//! Auth, primary and secondary rate limits, faults, App installation
//! tokens, and response shapes against the recorded api.github.com
//! fixtures.

mod common;

use std::time::Duration;

use common::*;
use fake_github::Config;
use serde_json::{Value, json};

fn write_pr_label(fake: &fake_github::FakeGitHub, label: &str) -> Resp {
    rest(
        fake,
        "POST",
        "/repos/acme/one/issues/1/labels",
        Some(json!({"labels": [label]})),
    )
}

fn repo_with_pr(fake: &fake_github::FakeGitHub) {
    fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    fake.push("acme", "one", "topic", &[("a", Some(b"2"))], "two");
    let resp = rest(
        fake,
        "POST",
        "/repos/acme/one/pulls",
        Some(json!({"title": "t", "head": "topic", "base": "main"})),
    );
    assert_eq!(resp.status, 201);
}

#[test]
fn secondary_limit_refuses_the_fourth_write_in_a_second() {
    let fake = fake_with(Config {
        secondary_limits: vec![(3, Duration::from_secs(1))],
        ..Config::default()
    });
    repo_with_pr(&fake); // write 1
    assert_eq!(write_pr_label(&fake, "a").status, 200); // write 2
    assert_eq!(write_pr_label(&fake, "b").status, 200); // write 3
    // Reads are not limited.
    assert_eq!(rest(&fake, "GET", "/repos/acme/one", None).status, 200);
    let refused = write_pr_label(&fake, "c");
    assert_eq!(refused.status, 403);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .starts_with("You have exceeded a secondary rate limit.")
    );
    let request_id = &refused.headers["x-github-request-id"];
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains(request_id.as_str())
    );
    let retry: u64 = refused.headers["retry-after"].parse().unwrap();
    assert!((1..=1).contains(&retry), "{retry}");
    assert_eq!(fake.pulls("acme", "one")[0].labels, vec!["a", "b"]);
    let counters = fake.counters();
    assert_eq!(counters.secondary_refusals, 1);
    assert_eq!(counters.content_creating, 3);
    assert_eq!(
        counters.by_kind["POST /repos/{owner}/{repo}/issues/{number}/labels"],
        3
    );

    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(write_pr_label(&fake, "c").status, 200);
    assert_eq!(fake.pulls("acme", "one")[0].labels, vec!["a", "b", "c"]);
    assert_eq!(fake.counters().content_creating, 4);

    // Injected refusals, GraphQL mutations included.
    fake.refuse_next_writes(1, 7);
    let resp = gql_as(
        &fake,
        TOKEN,
        "mutation { updateRefs(input: {repositoryId: \"x\", refUpdates: []}) { clientMutationId } }",
        json!({}),
    );
    assert_eq!(resp.status, 403);
    assert_eq!(resp.headers["retry-after"], "7");
    assert_eq!(fake.counters().secondary_refusals, 2);
}

#[test]
fn secondary_windows_can_be_replaced_and_reset_at_run_time() {
    let fake = fake_with(Config {
        secondary_limits: vec![(2, Duration::from_secs(3600))],
        ..Config::default()
    });
    repo_with_pr(&fake); // unit 1
    assert_eq!(write_pr_label(&fake, "a").status, 200); // unit 2
    let refused = write_pr_label(&fake, "b");
    assert_eq!(refused.status, 403);
    assert_eq!(refused.headers["retry-after"], "3600");

    // An hour later on GitHub: the window is empty again.
    fake.reset_secondary_windows();
    assert_eq!(write_pr_label(&fake, "b").status, 200);

    // Tighter windows count the units already admitted.
    fake.set_secondary_limits(vec![(1, Duration::from_secs(60))]);
    let refused = write_pr_label(&fake, "c");
    assert_eq!(refused.status, 403);
    assert_eq!(refused.headers["retry-after"], "60");
    fake.reset_secondary_windows();
    assert_eq!(write_pr_label(&fake, "c").status, 200);

    assert_eq!(fake.pulls("acme", "one")[0].labels, vec!["a", "b", "c"]);
    let counters = fake.counters();
    assert_eq!(counters.secondary_refusals, 2);
    assert_eq!(counters.content_units, 4);
}

#[test]
fn auth_and_primary_rate_limit() {
    let fake = fake_github::FakeGitHub::start(Config::default());
    // No tokens at all: everything is 401.
    let resp = send(&fake.url(), "GET", "/rate_limit", None, None);
    assert_eq!(resp.status, 401);
    fake.add_token(TOKEN, true);
    let resp = send(&fake.url(), "GET", "/repos/acme/one", None, None);
    assert_eq!(resp.status, 401);
    assert_eq!(
        resp.body,
        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
    );
    let resp = send(
        &fake.url(),
        "POST",
        "/graphql",
        Some("bearer nope"),
        Some(&json!({"query": "{ viewer { login } }"})),
    );
    assert_eq!(resp.status, 401);

    fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    let first = rest(&fake, "GET", "/repos/acme/one", None);
    let second = rest(&fake, "GET", "/repos/acme/one", None);
    let remaining = |r: &Resp| r.headers["x-ratelimit-remaining"].parse::<u32>().unwrap();
    assert_eq!(remaining(&first), 4999);
    assert_eq!(remaining(&second), 4998);
    assert_eq!(second.headers["x-ratelimit-used"], "2");
    assert_eq!(second.headers["x-ratelimit-resource"], "core");
    assert_eq!(
        second.headers["content-type"],
        "application/json; charset=utf-8"
    );
    // GraphQL has its own budget; /rate_limit is free.
    let g = gql_as(&fake, TOKEN, "{ viewer { login } }", json!({}));
    assert_eq!(g.headers["x-ratelimit-resource"], "graphql");
    assert_eq!(remaining(&g), 4999);
    assert_eq!(g.body["data"]["viewer"]["login"], "distributor-bot");
    let r = rest(&fake, "GET", "/rate_limit", None);
    assert_eq!(r.body["resources"]["core"]["remaining"], 4998);
    assert_eq!(r.body["resources"]["graphql"]["remaining"], 4999);

    fake.set_rate_limit_remaining(0, Duration::from_secs(2));
    let resp = rest(&fake, "GET", "/repos/acme/one", None);
    assert_eq!(resp.status, 403);
    assert_eq!(
        resp.body["message"],
        "API rate limit exceeded for user ID 1."
    );
    assert_eq!(resp.headers["x-ratelimit-remaining"], "0");
    let reset: i64 = resp.headers["x-ratelimit-reset"].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(reset >= now && reset <= now + 4, "{reset} vs {now}");
    let g = gql_as(&fake, TOKEN, "{ viewer { login } }", json!({}));
    assert_eq!(g.status, 200);
    assert_eq!(
        g.body,
        json!({"errors": [{"type": "RATE_LIMITED", "message": "API rate limit already exceeded for user ID 1."}]})
    );
    assert_eq!(g.headers["x-ratelimit-remaining"], "0");
    assert_eq!(fake.counters().primary_refusals, 2);
    std::thread::sleep(Duration::from_millis(2100));
    let resp = rest(&fake, "GET", "/repos/acme/one", None);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers["x-ratelimit-remaining"], "4999");
}

#[test]
fn faults_latency_and_concurrency() {
    let fake = fake_with(Config {
        max_concurrent: 2,
        ..Config::default()
    });
    fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    fake.fail_next(2, 502);
    for _ in 0..2 {
        let resp = rest(&fake, "GET", "/repos/acme/one", None);
        assert_eq!(resp.status, 502);
        assert_eq!(resp.body, json!({"message": "Server Error"}));
    }
    assert_eq!(rest(&fake, "GET", "/repos/acme/one", None).status, 200);

    fake.set_latency(Duration::from_millis(300));
    let url = fake.url();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                send(
                    &url,
                    "GET",
                    "/repos/acme/one",
                    Some(&format!("token {TOKEN}")),
                    None,
                )
                .status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.contains(&200));
    assert!(statuses.contains(&403), "{statuses:?}");
    let counters = fake.counters();
    assert!(counters.max_in_flight >= 3, "{counters:?}");
    assert!(counters.secondary_refusals >= 1);
    fake.reset_counters();
    assert_eq!(fake.counters().total, 0);
}

fn jwt(iss: Value) -> String {
    use base64::Engine as _;
    let e = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        e(json!({"alg": "RS256", "typ": "JWT"})),
        e(json!({"iss": iss, "iat": 1, "exp": 2})),
        "c2lnbmF0dXJl"
    )
}

#[test]
fn app_installation_tokens_expire() {
    let fake = fake_github::FakeGitHub::start(Config::default());
    fake.add_app(42, 7, false);
    fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    let path = "/app/installations/7/access_tokens";
    let resp = send(
        &fake.url(),
        "POST",
        path,
        Some(&format!("Bearer {}", jwt(json!(41)))),
        None,
    );
    assert_eq!(resp.status, 404);
    let resp = send(&fake.url(), "POST", path, Some("Bearer not-a-jwt"), None);
    assert_eq!(resp.status, 401);
    let resp = send(
        &fake.url(),
        "POST",
        path,
        Some(&format!("Bearer {}", jwt(json!("42")))),
        None,
    );
    assert_eq!(resp.status, 201, "{:?}", resp.body);
    let token = resp.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ghs_"));
    assert!(resp.body["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(resp.body["repository_selection"], "all");

    // The app lacks `workflows`: its message differs from a PAT's.
    let tip = fake.tip("acme", "one", "main").unwrap();
    let doc = "mutation($i: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $i) { commit { oid } } }";
    let input = json!({"i": {"branch": {"repositoryNameWithOwner": "acme/one", "branchName": "main"}, "expectedHeadOid": tip,
        "message": {"headline": "wf"}, "fileChanges": {"additions": [{"path": ".github/workflows/x.yml", "contents": b64(b"x")}]}}});
    let resp = gql_as(&fake, &token, doc, input);
    assert_eq!(
        resp.body["errors"][0]["message"],
        "refusing to allow a GitHub App to create or update workflow `.github/workflows/x.yml` without `workflows` permission"
    );
    assert_eq!(fake.counters().content_creating, 1);
    assert!(
        !fake
            .counters()
            .by_kind
            .keys()
            .any(|k| k.starts_with("unexpected"))
    );

    fake.set_token_lifetime(Duration::from_millis(200));
    let resp = send(
        &fake.url(),
        "POST",
        path,
        Some(&format!("Bearer {}", jwt(json!(42)))),
        None,
    );
    let short = resp.body["token"].as_str().unwrap().to_string();
    assert_eq!(
        send(
            &fake.url(),
            "GET",
            "/repos/acme/one",
            Some(&format!("token {short}")),
            None
        )
        .status,
        200
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        send(
            &fake.url(),
            "GET",
            "/repos/acme/one",
            Some(&format!("token {short}")),
            None
        )
        .status,
        401
    );
}

/// Every key of `recorded` is in `ours` with the same JSON type
/// (recursively for objects; arrays compare their first elements).
fn same_shape(recorded: &Value, ours: &Value, at: &str) {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    match (recorded, ours) {
        (Value::Object(r), Value::Object(o)) => {
            for (k, v) in r {
                let mine = o
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} missing in {ours}"));
                same_shape(v, mine, &format!("{at}.{k}"));
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            if let (Some(r), Some(o)) = (r.first(), o.first()) {
                same_shape(r, o, &format!("{at}[0]"));
            }
        }
        // Nullable fields may be null on one side.
        (Value::Null, _) | (_, Value::Null) => {}
        (r, o) => assert_eq!(kind(r), kind(o), "{at}: recorded {r}, ours {o}"),
    }
}

fn fixture(file: &str, index: usize) -> Value {
    let path = format!("{}/data/rest-fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all[index].clone()
}

fn same_headers(recorded: &Value, ours: &Resp) {
    for name in recorded["headers"].as_object().unwrap().keys() {
        if name.starts_with("x-ratelimit-")
            || name.starts_with("x-github-")
            || name == "content-type"
        {
            assert!(
                ours.headers.contains_key(name),
                "header {name} missing: {:?}",
                ours.headers
            );
        }
    }
}

#[test]
fn responses_match_recorded_github_shapes() {
    let fake = fake();
    repo_with_pr(&fake);
    let tip = fake.tip("acme", "one", "main").unwrap();

    let checks = [
        (
            fixture("git-refs.json", 1),
            rest(
                &fake,
                "POST",
                "/repos/acme/one/git/refs",
                Some(json!({"ref": "refs/heads/test", "sha": tip})),
            ),
        ),
        (
            fixture("git-refs.json", 2),
            rest(
                &fake,
                "PATCH",
                "/repos/acme/one/git/refs/heads/test",
                Some(json!({"sha": tip})),
            ),
        ),
        (
            fixture("git-refs.json", 4),
            rest(&fake, "DELETE", "/repos/acme/one/git/refs/heads/test", None),
        ),
        (
            fixture("get-repository.json", 0),
            rest(&fake, "GET", "/repos/acme/one", None),
        ),
        (
            fixture("errors.json", 0),
            rest(
                &fake,
                "POST",
                "/repos/acme/one/pulls",
                Some(json!({"title": "t", "head": "nope", "base": "main"})),
            ),
        ),
    ];
    for (recorded, ours) in &checks {
        assert_eq!(
            recorded["status"].as_u64().unwrap() as u16,
            ours.status,
            "{} {}: {:?}",
            recorded["method"],
            recorded["path"],
            ours.body
        );
        same_shape(
            &recorded["response"],
            &ours.body,
            recorded["path"].as_str().unwrap(),
        );
        same_headers(recorded, ours);
    }
    // A label object, as in labels.json.
    let labels = write_pr_label(&fake, "sync");
    let recorded = fixture("labels.json", 1);
    same_shape(&recorded["response"], &labels.body[0], "label");
    same_headers(&recorded, &labels);
    assert_eq!(labels.body[0]["name"], "sync");
}

/// Two mutation fields in one document are two units: with room for three
/// units a second, a two-field document, then another, is refused the
/// second time (4 > 3); a one-unit REST write still fits.
#[test]
fn each_top_level_mutation_field_is_one_content_creating_unit() {
    let fake = fake_with(Config {
        secondary_limits: vec![(3, Duration::from_secs(1))],
        ..Config::default()
    });
    fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    let two = "mutation { a: addStar(input: {starrableId: \"x\"}) { clientMutationId } b: removeStar(input: {starrableId: \"x\"}) { clientMutationId } }";
    assert_ne!(gql_as(&fake, TOKEN, two, json!({})).status, 403);
    let c = fake.counters();
    assert_eq!((c.content_creating, c.content_units), (1, 2));
    let refused = gql_as(&fake, TOKEN, two, json!({}));
    assert_eq!(refused.status, 403);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .starts_with("You have exceeded a secondary rate limit.")
    );
    assert!(refused.headers.contains_key("retry-after"));
    let pr = rest(
        &fake,
        "POST",
        "/repos/acme/one/git/refs",
        Some(json!({"ref": "refs/heads/x", "sha": fake.tip("acme", "one", "main").unwrap()})),
    );
    assert_eq!(pr.status, 201, "{:?}", pr.body);
    let c = fake.counters();
    assert_eq!((c.content_creating, c.content_units), (2, 3));
    assert_eq!(c.secondary_refusals, 1);
}

/// Sends raw request bytes; returns the status and body.
fn raw(fake: &fake_github::FakeGitHub, head: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = fake.url().trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    let head = head.replace("{addr}", &addr);
    stream.write_all(head.as_bytes()).unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

/// A request that repeats a single-valued header is refused with 400
/// (as strict front ends do), logged with its repeats; with the refusal
/// off it is answered.
#[test]
fn a_repeated_single_valued_header_is_refused_with_400() {
    let fake = fake();
    fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    let twice = format!(
        "GET /repos/acme/one HTTP/1.1\r\nHost: {{addr}}\r\nConnection: close\r\nUser-Agent: a\r\nUser-Agent: b\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    );
    let (status, body) = raw(&fake, &twice);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("`user-agent` appears more than once"),
        "{body}"
    );
    assert_eq!(fake.counters().duplicate_header_refusals, 1);
    let log = fake.request_headers();
    let last = log.last().unwrap();
    assert_eq!(last.kind, "GET /repos/{owner}/{repo}");
    assert_eq!(last.names.iter().filter(|n| *n == "user-agent").count(), 2);
    let once = twice.replace("User-Agent: b\r\n", "");
    assert_eq!(raw(&fake, &once).0, 200);

    let lenient = fake_with(Config {
        refuse_duplicate_headers: false,
        ..Config::default()
    });
    lenient.add_repo("acme", "one", "main", &[("a", b"1")]);
    assert_eq!(raw(&lenient, &twice).0, 200);
}

/// Over the node budget: 200 with GitHub's RESOURCE_LIMITS_EXCEEDED and no
/// data; past the timeout: 502 "Something went wrong while executing your
/// query", after the timeout.
#[test]
fn queries_over_the_budget_or_past_the_timeout_answer_like_github() {
    let fake = fake();
    fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    let query = "{ a: repository(owner: \"acme\", name: \"one\") { id name } b: repository(owner: \"acme\", name: \"one\") { id } }";
    fake.set_graphql_budgets(Some(4), None);
    let resp = gql_as(&fake, TOKEN, query, json!({}));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body["data"], Value::Null);
    assert_eq!(resp.body["errors"][0]["type"], "RESOURCE_LIMITS_EXCEEDED");
    assert_eq!(
        resp.body["errors"][0]["message"],
        "Resource limits for this query exceeded."
    );
    fake.set_graphql_budgets(None, Some(1));
    assert_eq!(
        gql_as(&fake, TOKEN, query, json!({})).body["errors"][0]["type"],
        "RESOURCE_LIMITS_EXCEEDED"
    );
    fake.set_graphql_budgets(None, None);
    assert!(gql_as(&fake, TOKEN, query, json!({})).body["data"]["a"]["id"].is_string());
    fake.set_graphql_latency(Duration::from_millis(60), Duration::from_millis(250));
    let started = std::time::Instant::now();
    let resp = gql_as(&fake, TOKEN, query, json!({}));
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(resp.status, 502);
    assert!(
        resp.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Something went wrong while executing your query. This may be the result of a timeout")
    );
    let c = fake.counters();
    assert_eq!((c.resource_limit_refusals, c.graphql_timeouts), (2, 1));
    assert_eq!(c.max_query_nodes, 5);
}
