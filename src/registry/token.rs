//! Authorization for one registry: the answer to its `WWW-Authenticate`
//! challenge, either Basic credentials or a Bearer token fetched from the
//! challenge's realm, and the tokens granted, cached per (registry, scopes).
//!
//! Distribution token auth (docs/spec/auth/token.md; oauth.md for refresh
//! tokens): a 401 names a realm and service; the client asks the realm for a
//! token for the scopes the call needs and presents it as `Bearer`.

use super::agents::Agents;
use super::challenge::{self, Challenge};
use super::credential::Credential;
use super::response::{registry_error, Response};
use super::trust;
use super::waits::Waits;
use crate::error::{Error, Result};
use base64::Engine as _;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What a token was granted for: a registry and the scopes asked for, in
/// the order the call named them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    registry: String,
    scopes: Vec<String>,
}

impl TokenKey {
    fn new(registry: &str, scopes: &[String]) -> Self {
        TokenKey {
            registry: registry.to_string(),
            scopes: scopes.to_vec(),
        }
    }
}

/// `Authorization` header values (`Bearer …`) by registry and scopes.
#[derive(Default)]
pub struct TokenCache {
    tokens: HashMap<TokenKey, String>,
}

impl TokenCache {
    pub fn get(&self, registry: &str, scopes: &[String]) -> Option<&str> {
        self.tokens
            .get(&TokenKey::new(registry, scopes))
            .map(String::as_str)
    }

    pub fn insert(&mut self, registry: &str, scopes: &[String], authorization: String) {
        self.tokens
            .insert(TokenKey::new(registry, scopes), authorization);
    }
}

#[derive(Default)]
struct State {
    /// The challenge the registry sent last; none until it asks for one.
    challenge: Option<Challenge>,
    tokens: TokenCache,
}

/// How one client proves itself to one registry: its credential, the
/// registry's challenge, and the tokens granted so far.
pub struct Authenticator {
    registry: String,
    credential: Credential,
    /// `--insecure-registry`: hosts trusted with credentials in clear text.
    insecure: Vec<String>,
    state: Mutex<State>,
    /// The client's request counter; token requests count too.
    requests: Arc<AtomicU64>,
}

impl Authenticator {
    pub fn new(
        registry: &str,
        credential: Credential,
        insecure: &[String],
        requests: Arc<AtomicU64>,
    ) -> Self {
        Authenticator {
            registry: registry.to_string(),
            credential,
            insecure: insecure.to_vec(),
            state: Mutex::new(State::default()),
            requests,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("no thread panics holding auth")
    }

    /// Remembers the challenge of an answer to `GET /v2/` (none when the
    /// registry wants no authentication).
    pub fn remember(&self, response: &Response) {
        self.state().challenge = challenge::parse(www_authenticate(response));
    }

    /// The challenge the registry sent last.
    pub fn challenge(&self) -> Option<Challenge> {
        self.state().challenge.clone()
    }

    /// Starts from a challenge learned by another client of the registry.
    pub fn set_challenge(&self, challenge: Option<Challenge>) {
        self.state().challenge = challenge;
    }

    /// The `Authorization` header for a request needing `scopes`, when the
    /// registry has asked for one and it is known.
    pub fn authorization(&self, scopes: &[String]) -> Option<String> {
        let state = self.state();
        let challenge = state.challenge.as_ref()?;
        match challenge.scheme.as_str() {
            "basic" => basic_header(&self.credential),
            _ => state.tokens.get(&self.registry, scopes).map(str::to_string),
        }
    }

    /// Learns the challenge from a 401 and, for Bearer, fetches a token for
    /// `scopes` with the agent for the realm (verified TLS, unless the
    /// realm's own host is named in `--insecure-registry`), as bounded as
    /// any call (`waits`): a realm that fails as a registry can is a failure
    /// worth another try.
    pub fn answer(
        &self,
        agents: &Agents,
        waits: &Waits,
        response: &Response,
        scopes: &[String],
    ) -> Result<()> {
        let Some(challenge) = challenge::parse(www_authenticate(response)) else {
            return Ok(());
        };
        if challenge.scheme == "bearer" {
            let token = self.fetch_token(agents, waits, &challenge, scopes)?;
            let mut state = self.state();
            state
                .tokens
                .insert(&self.registry, scopes, format!("Bearer {token}"));
            state.challenge = Some(challenge);
        } else {
            self.state().challenge = Some(challenge);
        }
        Ok(())
    }

    /// What to tell the user when the registry or its realm refuses us.
    pub fn rejected_hint(&self) -> &'static str {
        match self.credential {
            Credential::Anonymous => "the registry wants credentials: run `rko login`",
            _ => "check the username and password (`rko login`)",
        }
    }

    /// Asks the challenge's realm for a token: a refresh-token POST for an
    /// identity token, otherwise a GET, with Basic credentials if we have
    /// them and the realm may have them (see [`trust::realm_gets_credentials`]).
    /// The agent follows no redirect: the credentials would go to a host
    /// the registry never named.
    fn fetch_token(
        &self,
        agents: &Agents,
        waits: &Waits,
        challenge: &Challenge,
        scopes: &[String],
    ) -> Result<String> {
        let realm = challenge.param("realm").ok_or_else(|| {
            Error::invalid(format!(
                "registry {} sent a Bearer challenge without a realm",
                self.registry
            ))
        })?;
        let credential = self.credential_for(realm)?;
        let agent = agents.for_url(realm);
        let service = challenge.param("service").unwrap_or("");
        self.requests.fetch_add(1, Ordering::Relaxed);
        let result = match credential {
            Credential::IdentityToken(token) => {
                let scope = scopes.join(" ");
                agent.post(realm).send_form([
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.expose()),
                    ("service", service),
                    ("client_id", "rko"),
                    ("scope", scope.as_str()),
                ])
            }
            credential => {
                let mut request = agent.get(realm).query("service", service);
                for scope in scopes {
                    request = request.query("scope", scope);
                }
                if let Some(basic) = basic_header(credential) {
                    request = request.header("Authorization", basic);
                }
                request.call()
            }
        };
        let what = format!("getting a token from {realm}");
        let response = waits.floored(result.map_err(|e| waits.failure(&what, &e))?);
        if response.status() != 200 {
            return Err(registry_error(&what, response).hint(self.rejected_hint()));
        }
        read_token(&what, response, waits)
    }

    /// The credential to present at `realm`: ours, if the realm may see it;
    /// anonymous when we have none; an error saying how to allow the realm
    /// when we have one it may not see.
    fn credential_for(&self, realm: &str) -> Result<&Credential> {
        if self.credential == Credential::Anonymous
            || trust::realm_gets_credentials(realm, &self.registry, &self.insecure)
        {
            return Ok(&self.credential);
        }
        let host = trust::Origin::of(realm)
            .map(|o| format!("{}:{}", o.host, o.port))
            .unwrap_or_else(|| realm.to_string());
        Err(Error::invalid(format!(
            "registry {} asks for credentials at token realm {realm}, plain HTTP on another \
             host: rko sends credentials there only over HTTPS (if that host may see them, \
             pass --insecure-registry={host})",
            self.registry
        )))
    }
}

fn www_authenticate(response: &Response) -> &str {
    response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `Basic base64(user:password)` for a username and password; nothing else
/// is sent as Basic.
fn basic_header(credential: &Credential) -> Option<String> {
    match credential {
        Credential::Basic { username, password } => {
            let raw = format!("{username}:{}", password.expose());
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            ))
        }
        _ => None,
    }
}

/// The token in a realm's answer: `token`, or OAuth2's `access_token`.
fn read_token(what: &str, response: Response, waits: &Waits) -> Result<String> {
    let text = response
        .into_body()
        .read_to_string()
        .map_err(|e| waits.failure(what, &e))?;
    let body: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::invalid(format!("{what}: the answer is not JSON: {e}")))?;
    body["token"]
        .as_str()
        .or_else(|| body["access_token"].as_str())
        .map(str::to_string)
        .ok_or_else(|| Error::invalid(format!("{what}: the answer holds no token")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::credential::Secret;

    fn strings(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tokens_are_cached_per_registry_and_scopes() {
        let push = "repository:app:pull,push";
        let base = "repository:base:pull";
        let mut cache = TokenCache::default();
        cache.insert("reg.io", &strings(&[push]), "Bearer push".into());
        cache.insert("reg.io", &strings(&[push, base]), "Bearer mount".into());
        cache.insert("reg.io", &[], "Bearer login".into());
        for (registry, scopes, want) in [
            ("reg.io", vec![push], Some("Bearer push")),
            ("reg.io", vec![push, base], Some("Bearer mount")),
            ("reg.io", vec![], Some("Bearer login")),
            // Another registry never gets this registry's token.
            ("other.io", vec![push], None),
            ("reg.io:443", vec![push], None),
            // A token is for exactly the scopes asked for: not fewer, not more.
            ("reg.io", vec!["repository:app:pull"], None),
            ("reg.io", vec![base], None),
            ("reg.io", vec![push, base, "repository:x:pull"], None),
            // The key is the scope list as the call names it, order included.
            ("reg.io", vec![base, push], None),
        ] {
            assert_eq!(
                cache.get(registry, &strings(&scopes)),
                want,
                "{registry} {scopes:?}"
            );
        }
    }

    #[test]
    fn the_challenge_decides_which_authorization_is_sent() {
        let basic = Credential::Basic {
            username: "me".into(),
            password: Secret::new("pw"),
        };
        let me_pw = "Basic bWU6cHc=";
        let scopes = strings(&["repository:app:pull"]);
        for (challenge, credential, token, want) in [
            (None, basic.clone(), None, None),
            (Some("Basic realm=\"r\""), basic.clone(), None, Some(me_pw)),
            (Some("Basic realm=\"r\""), Credential::Anonymous, None, None),
            (
                Some("Bearer realm=\"https://a/t\""),
                basic.clone(),
                None,
                None,
            ),
            (
                Some("Bearer realm=\"https://a/t\""),
                basic.clone(),
                Some("Bearer t"),
                Some("Bearer t"),
            ),
        ] {
            let auth = Authenticator::new("reg.io", credential, &[], Arc::default());
            {
                let mut state = auth.state();
                state.challenge = challenge.and_then(challenge::parse);
                if let Some(token) = token {
                    state.tokens.insert("reg.io", &scopes, token.to_string());
                }
            }
            assert_eq!(
                auth.authorization(&scopes).as_deref(),
                want,
                "{challenge:?} {token:?}"
            );
        }
    }
}
