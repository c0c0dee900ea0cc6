//! `[support]`: the people a shop calls when something goes wrong during go-live (the owner, the
//! operator hosting rapport, a connector's author). rapport only prints them, in the playbook.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportConfig {
    #[serde(default)]
    pub contacts: Vec<Contact>,
}

/// One person to call: a name, what they look after, and at least one way to reach them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    /// What they look after ("shop owner", "hosting", "HubSpot connector").
    pub role: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// When they can be reached ("weekdays 9–17").
    pub hours: Option<String>,
}

impl SupportConfig {
    /// Every contact named, with a role and a phone number or an email; the error names the contact.
    pub fn validate(&self) -> Result<(), String> {
        for contact in &self.contacts {
            if contact.name.trim().is_empty() || contact.role.trim().is_empty() {
                return Err("[[support.contacts]]: each contact needs a name and a role".into());
            }
            if contact.phone.is_none() && contact.email.is_none() {
                return Err(format!(
                    "[[support.contacts]] {:?}: give a phone or an email to reach them by",
                    contact.name
                ));
            }
        }
        Ok(())
    }
}
