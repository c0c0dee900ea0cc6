//! What a plugin's manifest asks of the operator, as plain lines an operator can read and approve:
//! each secret it names, each egress destination, and each secret the host injects at one. A
//! destination taken from a setting (`{config:url}`) is named by that setting: where it points is
//! the operator's own choice in the config, not the plugin's. Two versions of a plugin are compared
//! by these lines, so a new version that asks for more can be held until the operator approves it.

use super::manifest::{template_references, EgressAuth, Manifest, Reference};
use std::collections::BTreeSet;

/// One thing a manifest asks for, e.g. `secret hubspot_token`, `egress https://api.hubapi.com` or
/// `secret hubspot_token sent to https://api.hubapi.com`.
pub type Permission = String;

/// Every permission `manifest` asks for.
pub fn permissions(manifest: &Manifest) -> BTreeSet<Permission> {
    let mut asked: BTreeSet<Permission> = manifest
        .secrets
        .iter()
        .map(|name| format!("secret {name}"))
        .collect();
    for rule in &manifest.egress {
        let templates: Vec<&str> = match &rule.auth {
            None => Vec::new(),
            Some(EgressAuth::Header { value, .. }) => vec![value],
            Some(EgressAuth::Basic { username, password }) => vec![username, password],
        };
        let injected: BTreeSet<&str> = templates
            .into_iter()
            .flat_map(|t| template_references(t).unwrap_or_default())
            .filter_map(|reference| match reference {
                Reference::Secret(name) => Some(name),
                Reference::Config(_) => None,
            })
            .collect();
        let destination = match super::manifest::config_reference(&rule.url) {
            Some(key) => format!("the `{key}` setting's destination"),
            None => rule.url.clone(),
        };
        for name in injected {
            asked.insert(format!("secret {name} sent to {destination}"));
        }
        asked.insert(format!("egress {destination}"));
    }
    asked
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn manifest(extra: &str) -> Manifest {
        let text = format!(
            "id = \"s\"\nversion = \"1.0.0\"\nkind = \"crm-sink\"\ncontract = \"rapport:connector@0.1.0\"\n{extra}"
        );
        Manifest::parse(&text, Path::new("rapport.toml")).unwrap()
    }

    #[test]
    fn secrets_and_destinations_with_what_is_injected_there() {
        let asked = permissions(&manifest(
            "secrets = [\"token\"]\n[config.url]\ntype = \"url\"\n\
             [[egress]]\nurl = \"https://api.example.com\"\nauth = { header = \"Authorization\", value = \"Bearer {secret:token}\" }\n\
             [[egress]]\nurl = \"{config:url}\"\n",
        ));
        let expected: BTreeSet<String> = [
            "secret token",
            "egress https://api.example.com",
            "secret token sent to https://api.example.com",
            "egress the `url` setting's destination",
        ]
        .map(String::from)
        .into();
        assert_eq!(asked, expected);
    }

    #[test]
    fn moving_a_secret_to_another_host_asks_for_something_new() {
        let before = permissions(&manifest(
            "secrets = [\"token\"]\n[[egress]]\nurl = \"https://a.example.com\"\nauth = { header = \"X\", value = \"{secret:token}\" }\n[[egress]]\nurl = \"https://b.example.com\"\n",
        ));
        let after = permissions(&manifest(
            "secrets = [\"token\"]\n[[egress]]\nurl = \"https://a.example.com\"\n[[egress]]\nurl = \"https://b.example.com\"\nauth = { header = \"X\", value = \"{secret:token}\" }\n",
        ));
        let new: Vec<_> = after.difference(&before).collect();
        assert_eq!(new, ["secret token sent to https://b.example.com"]);
    }
}
