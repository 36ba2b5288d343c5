//! `--use-env-proxy`: which HTTP proxy a request to an origin goes through, from
//! HTTP_PROXY / HTTPS_PROXY / NO_PROXY (either case), decided per origin so a redirect to
//! another host or scheme is routed as a first request there would be.

/// The proxy settings of the environment, read and checked once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyRules {
    http: Option<(String, u16)>,
    https: Option<(String, u16)>,
    no_proxy: Vec<String>,
}

impl ProxyRules {
    /// Reads the variables through `lookup`; a proxy that is not `http://HOST[:PORT]` is
    /// an error naming the variable (only http:// proxies are spoken to).
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> Result<ProxyRules, String> {
        let read = |names: [&str; 2]| -> Result<Option<(String, u16)>, String> {
            let Some((name, value)) = names
                .iter()
                .find_map(|n| lookup(n).filter(|v| !v.is_empty()).map(|v| (*n, v)))
            else {
                return Ok(None);
            };
            parse_proxy(&value).map(Some).ok_or_else(|| {
                format!(
                    "{name} `{value}`: write http://HOST:PORT (only http:// proxies are supported)"
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
    pub fn for_origin(&self, https: bool, host: &str) -> Option<(String, u16)> {
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

fn parse_proxy(value: &str) -> Option<(String, u16)> {
    let uri: http::Uri = value.parse().ok()?;
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_owned(), uri.port_u16().unwrap_or(80)))
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
        assert_eq!(r.for_origin(false, "public.test"), Some(("p".into(), 3128)));
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
}
