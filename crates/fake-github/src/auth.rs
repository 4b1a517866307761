//! Authentication: classic personal access tokens, GitHub App JWTs and the
//! installation tokens minted from them (with expiry), and who a token acts
//! as (login, workflow scope/permission).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::util;

/// Who a request acts as.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The token, the key of its rate-limit budgets.
    pub token: String,
    /// The login commits and pull requests are attributed to.
    pub login: String,
    /// May create or change `.github/workflows/*`.
    pub workflow: bool,
    /// A GitHub App installation token (changes the workflow message).
    pub app: bool,
}

#[derive(Debug, Clone)]
struct Token {
    workflow: bool,
    app: bool,
    expires: Option<SystemTime>,
}

#[derive(Debug, Clone)]
struct Installation {
    app_id: u64,
    workflows: bool,
}

/// Known tokens and apps.
#[derive(Debug)]
pub(crate) struct Auth {
    tokens: HashMap<String, Token>,
    installations: HashMap<u64, Installation>,
    minted: u64,
    pub lifetime: Duration,
    pub token_owner: String,
}

/// A minted installation token.
pub(crate) struct Minted {
    pub token: String,
    pub expires_at: String,
    pub workflows: bool,
}

/// The token in an `Authorization` header value (`Bearer x` / `token x`).
pub(crate) fn bearer(header: Option<&str>) -> Option<&str> {
    let header = header?.trim();
    let (scheme, rest) = header.split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "token" => Some(rest.trim()),
        _ => None,
    }
}

impl Auth {
    pub(crate) fn new(token_owner: String) -> Auth {
        Auth {
            tokens: HashMap::new(),
            installations: HashMap::new(),
            minted: 0,
            lifetime: Duration::from_secs(3600),
            token_owner,
        }
    }

    pub(crate) fn add_token(&mut self, token: &str, workflow: bool) {
        self.tokens.insert(
            token.to_string(),
            Token {
                workflow,
                app: false,
                expires: None,
            },
        );
    }

    pub(crate) fn add_app(&mut self, app_id: u64, installation_id: u64, workflows: bool) {
        self.installations
            .insert(installation_id, Installation { app_id, workflows });
    }

    /// The caller a token acts as; None when unknown or expired.
    pub(crate) fn authenticate(&self, header: Option<&str>) -> Option<Caller> {
        let token = bearer(header)?;
        let known = self.tokens.get(token)?;
        if known.expires.is_some_and(|e| SystemTime::now() >= e) {
            return None;
        }
        Some(Caller {
            token: token.to_string(),
            login: self.token_owner.clone(),
            workflow: known.workflow,
            app: known.app,
        })
    }

    /// Mints an installation token when `header` carries a well-formed RS256
    /// JWT issued by the app owning `installation_id`. Err: (status, message).
    pub(crate) fn mint(
        &mut self,
        header: Option<&str>,
        installation_id: u64,
    ) -> Result<Minted, (u16, &'static str)> {
        const BAD_JWT: (u16, &str) = (401, "A JSON web token could not be decoded");
        let jwt = bearer(header).ok_or(BAD_JWT)?;
        let iss = jwt_issuer(jwt).ok_or(BAD_JWT)?;
        let installation = self
            .installations
            .get(&installation_id)
            .ok_or((404, "Not Found"))?
            .clone();
        if iss != installation.app_id {
            return Err((404, "Not Found"));
        }
        self.minted += 1;
        let token = format!("ghs_{:036}", self.minted);
        let expires = SystemTime::now() + self.lifetime;
        self.tokens.insert(
            token.clone(),
            Token {
                workflow: installation.workflows,
                app: true,
                expires: Some(expires),
            },
        );
        Ok(Minted {
            token,
            expires_at: util::rfc3339(util::epoch_secs(expires)),
            workflows: installation.workflows,
        })
    }
}

/// The `iss` of a well-formed RS256 JWT (string or number), unverified.
fn jwt_issuer(jwt: &str) -> Option<u64> {
    let mut parts = jwt.split('.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || signature.is_empty() {
        return None;
    }
    util::base64url_decode(signature)?;
    let header: serde_json::Value =
        serde_json::from_slice(&util::base64url_decode(header)?).ok()?;
    if header.get("alg")?.as_str()? != "RS256" {
        return None;
    }
    let payload: serde_json::Value =
        serde_json::from_slice(&util::base64url_decode(payload)?).ok()?;
    match payload.get("iss")? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}
