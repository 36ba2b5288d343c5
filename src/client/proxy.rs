//! `--use-env-proxy`: which HTTP proxy a request to an origin goes through, from
//! HTTP_PROXY / HTTPS_PROXY / NO_PROXY (either case), decided per origin so a redirect to
//! another host or scheme is routed as a first request there would be.

use http::HeaderValue;

/// An HTTP proxy: where it listens, and the credentials its URL carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// `Proxy-Authorization: Basic ...` from `user:password@` in the variable; marked
    /// sensitive, so no debug output shows it.
    pub authorization: Option<HeaderValue>,
}

/// The proxy settings of the environment, read and checked once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyRules {
    http: Option<Proxy>,
    https: Option<Proxy>,
    no_proxy: Vec<String>,
}

impl ProxyRules {
    /// Reads the variables through `lookup`; a proxy that is not `http://HOST[:PORT]` is
    /// an error naming the variable (only http:// proxies are spoken to).
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> Result<ProxyRules, String> {
        let read = |names: [&str; 2]| -> Result<Option<Proxy>, String> {
            let Some((name, value)) = names
                .iter()
                .find_map(|n| lookup(n).filter(|v| !v.is_empty()).map(|v| (*n, v)))
            else {
                return Ok(None);
            };
            // The value is not shown: it may carry the proxy's password.
            parse_proxy(&value).map(Some).ok_or_else(|| {
                format!(
                    "{name} is not a proxy api-cannon can use: write http://HOST:PORT, or \
                     http://USER:PASSWORD@HOST:PORT (only http:// proxies are supported)"
                )
            })
        };
        Ok(ProxyRules {
            http: read(["HTTP_PROXY", "http_proxy"])?,
            https: read(["HTTPS_PROXY", "https_proxy"])?,
            no_proxy: lookup("NO_PROXY")
                .or_else(|| lookup("no_proxy"))
                .unwrap_or_default()
                .split(',')
                .map(|entry| entry.trim().trim_start_matches('.').to_ascii_lowercase())
                .filter(|entry| !entry.is_empty())
                .collect(),
        })
    }

    /// The proxy for an origin: HTTPS_PROXY for https, HTTP_PROXY for http, none when
    /// NO_PROXY names the host (exactly, as a domain suffix, or `*`).
    pub fn for_origin(&self, https: bool, host: &str) -> Option<Proxy> {
        let host = host.to_ascii_lowercase();
        let bypass = self
            .no_proxy
            .iter()
            .any(|entry| entry == "*" || host == *entry || host.ends_with(&format!(".{entry}")));
        if bypass {
            return None;
        }
        if https {
            self.https.clone()
        } else {
            self.http.clone()
        }
    }
}

fn parse_proxy(value: &str) -> Option<Proxy> {
    let url = url::Url::parse(value).ok()?;
    if url.scheme() != "http" || !matches!(url.path(), "" | "/") {
        return None;
    }
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let authorization = match (url.username(), url.password()) {
        ("", None) => None,
        (user, password) => Some(basic(user, password.unwrap_or_default())?),
    };
    Some(Proxy {
        host: host.to_owned(),
        port: url.port_or_known_default()?,
        authorization,
    })
}

/// `Basic base64(user:password)`, from the percent-encoded parts of a URL.
fn basic(user: &str, password: &str) -> Option<HeaderValue> {
    use base64::Engine as _;
    let decode = |text| percent_encoding::percent_decode_str(text).collect::<Vec<u8>>();
    let mut credentials = decode(user);
    credentials.push(b':');
    credentials.extend(decode(password));
    let token = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut value = HeaderValue::from_str(&format!("Basic {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(vars: &[(&str, &str)]) -> Result<ProxyRules, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyRules::from_env(&|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn each_origin_gets_its_own_decision() {
        let r = rules(&[
            ("HTTP_PROXY", "http://p:3128"),
            ("no_proxy", "internal.test, .corp.test"),
        ])
        .unwrap();
        let proxy = r.for_origin(false, "public.test").expect("proxied");
        assert_eq!(
            (proxy.host.as_str(), proxy.port, proxy.authorization),
            ("p", 3128, None)
        );
        assert_eq!(r.for_origin(false, "internal.test"), None);
        assert_eq!(r.for_origin(false, "api.corp.test"), None);
        // No HTTPS_PROXY: https goes direct rather than through the http one.
        assert_eq!(r.for_origin(true, "public.test"), None);
        assert!(
            rules(&[("HTTPS_PROXY", "socks5://p:1080")])
                .unwrap_err()
                .contains("HTTPS_PROXY")
        );
        assert_eq!(rules(&[]).unwrap().for_origin(false, "x"), None);
    }

    #[test]
    fn credentials_in_a_proxy_variable_are_sent_and_never_shown() {
        let r = rules(&[("HTTP_PROXY", "http://al%40ce:s3cr%3At@p:8080")]).unwrap();
        let proxy = r.for_origin(false, "x").expect("proxied");
        let auth = proxy.authorization.expect("credentials");
        // base64("al@ce:s3cr:t")
        assert_eq!(auth.to_str().ok(), Some("Basic YWxAY2U6czNjcjp0"));
        assert!(auth.is_sensitive());
        assert!(!format!("{r:?}").contains("YWxAY2U6czNjcjp0"));
        let error = rules(&[("HTTPS_PROXY", "socks5://u:hunter2@p:1080")]).unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }
}
