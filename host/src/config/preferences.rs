//! `[server] public_url` and `preference_link_days`: where the preference page's links point and
//! how long they work. Checked here so a link the host sends people is one its own Host guard
//! lets through, over HTTPS unless it stays on this machine.

use super::ServerConfig;

/// The longest a link may work: a year and a day, so a yearly message's link lasts until the next.
const MAX_LINK_DAYS: u32 = 366;

pub(super) fn validate(server: &ServerConfig) -> Result<(), String> {
    if !(1..=MAX_LINK_DAYS).contains(&server.preference_link_days) {
        return Err(format!(
            "server.preference_link_days must be between 1 and {MAX_LINK_DAYS}, not {}",
            server.preference_link_days
        ));
    }
    let Some(text) = &server.public_url else {
        return Ok(());
    };
    let example = "like \"https://rapport.myshop.example\"";
    let url = reqwest::Url::parse(text).map_err(|e| {
        format!("server.public_url {text:?} is not a URL ({e}): give one {example}")
    })?;
    let Some(host) = url.host_str() else {
        return Err(format!(
            "server.public_url {text:?} names no host: give one {example}"
        ));
    };
    let host = (host.trim_start_matches('[').trim_end_matches(']'))
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "server.public_url {text:?} has a query, fragment or user name: give only the scheme, host, port and path prefix, {example}"
        ));
    }
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(format!(
                "server.public_url {text:?} must start with https:// (people open its links from their messages, over the internet)"
            ))
        }
    }
    if !loopback
        && !server
            .hostnames
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&host))
    {
        return Err(format!(
            "server.public_url names the host {host:?}, which is not in server.hostnames: add it there, or this server refuses the preference page under that name"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(public_url: &str, hostnames: &[&str]) -> ServerConfig {
        ServerConfig {
            public_url: Some(public_url.into()),
            hostnames: hostnames.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_public_url_is_https_under_a_configured_name_or_on_loopback() {
        for (url, names) in [
            (
                "https://rapport.shop.example",
                &["rapport.shop.example"][..],
            ),
            (
                "https://Rapport.Shop.Example:8443/r/",
                &["rapport.shop.example"],
            ),
            ("http://127.0.0.1:8940", &[]),
            ("http://localhost:8940", &[]),
        ] {
            assert_eq!(validate(&server(url, names)), Ok(()), "{url}");
        }
        for (url, names, says) in [
            ("rapport.shop.example", &[][..], "is not a URL"),
            (
                "http://rapport.shop.example",
                &["rapport.shop.example"],
                "https://",
            ),
            (
                "https://rapport.shop.example",
                &[],
                "not in server.hostnames",
            ),
            (
                "https://rapport.shop.example/?x=1",
                &["rapport.shop.example"],
                "query",
            ),
            ("ftp://127.0.0.1", &[], "https://"),
        ] {
            let error = validate(&server(url, names)).unwrap_err();
            assert!(error.contains(says), "{url}: {error}");
            assert!(error.contains("server.public_url"), "{error}");
        }
    }

    #[test]
    fn a_link_works_for_one_to_366_days() {
        let mut config = ServerConfig::default();
        assert_eq!(
            validate(&config),
            Ok(()),
            "no public URL: no link, nothing to check"
        );
        config.preference_link_days = 0;
        assert!(validate(&config)
            .unwrap_err()
            .contains("server.preference_link_days must be between 1 and 366"));
    }
}
