//! The warning for a `server` that sends the token in clear text to another machine.

use crate::diag::{self, Diagnostic, Severity};

/// A warning diagnostic when `server` is a plain `http://` URL to a host other than
/// loopback (`localhost`, `127.0.0.0/8`, `::1`): the bearer token would cross the network
/// unencrypted. `None` for `https://` and for loopback.
pub(crate) fn plain_http_warning(server: &str) -> Option<Diagnostic> {
    let rest = server.strip_prefix("http://").or_else(|| {
        server
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("http://"))
            .map(|_| &server[7..])
    })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    if is_loopback(host) {
        return None;
    }
    Some(Diagnostic {
        severity: Severity::Warning,
        summary: "Wayfinder API over plain HTTP".into(),
        detail: format!(
            "server {server:?} is plain http:// to {host:?}, which is not this machine: the access token and every object travel unencrypted and can be read or changed on the way. Use https:// (with ca_cert_pem for a private CA); plain http:// is meant for a server on loopback (localhost, 127.0.0.1, [::1])."
        ),
        path: Some(diag::attr("server")),
    })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_warns_only_for_hosts_other_than_loopback() {
        for quiet in [
            "https://wayfinder.example.com",
            "http://127.0.0.1:8080",
            "http://127.4.5.6/",
            "http://localhost:1234/x",
            "http://[::1]:8080",
        ] {
            assert!(plain_http_warning(quiet).is_none(), "{quiet}");
        }
        for loud in [
            "http://wayfinder.example.com",
            "HTTP://10.0.0.5:8080",
            "http://[2001:db8::1]:80/",
            "http://127.0.0.1@evil.example.com/",
        ] {
            let d = plain_http_warning(loud).expect(loud);
            assert_eq!(d.severity, Severity::Warning);
            assert!(d.detail.contains("unencrypted"), "{}", d.detail);
        }
    }
}
