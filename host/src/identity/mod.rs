//! Identity normalisation: the same person must produce the same identifiers whichever POS or form
//! they came through. (The identity graph and merge rules build on this.)

use crate::model::{Identity, IdentityKind};

/// Normalises one identifier; `None` if nothing usable is left.
pub fn normalize(source_id: &str, kind: IdentityKind, raw: &str) -> Option<Identity> {
    let trimmed = raw.trim();
    let value = match kind {
        IdentityKind::Email => {
            let email = trimmed.to_lowercase();
            let (local, domain) = email.split_once('@')?;
            if local.is_empty() || !domain.contains('.') || email.contains(char::is_whitespace) {
                return None;
            }
            email
        }
        IdentityKind::Phone => {
            let plus = trimmed.starts_with('+');
            let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
            if digits.len() < 6 {
                return None;
            }
            if plus {
                format!("+{digits}")
            } else {
                digits
            }
        }
        IdentityKind::LoyaltyId => trimmed.to_string(),
        IdentityKind::VendorCustomer => format!("{source_id}:{trimmed}"),
    };
    (!trimmed.is_empty()).then_some(Identity { kind, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        let id = normalize("s", IdentityKind::Email, "  Ana@Example.COM ").unwrap();
        assert_eq!(id.value, "ana@example.com");
        assert!(normalize("s", IdentityKind::Email, "not-an-email").is_none());
    }

    #[test]
    fn phones_keep_digits_and_plus() {
        let id = normalize("s", IdentityKind::Phone, "+1 (555) 010-9999").unwrap();
        assert_eq!(id.value, "+15550109999");
        assert!(normalize("s", IdentityKind::Phone, "12").is_none());
    }

    #[test]
    fn vendor_ids_are_namespaced_by_source() {
        let id = normalize("square", IdentityKind::VendorCustomer, "C-1").unwrap();
        assert_eq!(id.value, "square:C-1");
    }
}
