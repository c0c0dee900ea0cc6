//! Customers merged and deleted as Square does it, with the notifications Square sends.
//!
//! Square merges duplicate profiles into a *new* customer, with a new id and a version above
//! theirs, and deletes the old ones; it notifies `customer.created` for the new one and
//! `customer.deleted` for each old one, every notification carrying `event_context.merge
//! {from_customer_ids, to_customer_id}`. A customer deleted for good is notified by a
//! `customer.deleted` without a merge context.

use super::{bump, notification, text, SquareServer};
use serde_json::{json, Value};

/// A merge Square made: the new customer and the notifications it sent.
#[derive(Debug, Clone)]
pub struct Merge {
    /// The customer the merge created.
    pub customer: Value,
    /// `customer.created` for the new customer, with the merge context.
    pub created: Value,
    /// `customer.deleted` for each merged customer, in the order they were named, with the merge
    /// context.
    pub deleted: Vec<Value>,
}

impl SquareServer {
    /// Changes a customer as Square does: `change` edits it, then `version` goes up by one and
    /// `updated_at` becomes `at`.
    pub fn update_customer(&self, id: &str, at: &str, change: impl FnOnce(&mut Value)) {
        let mut data = self.data();
        let customer = data.customers.get_mut(id).expect("no such customer");
        change(customer);
        bump(customer, at);
    }

    /// Merges the customers `from` into a new customer `new_id` at `at`, as Square does: the new
    /// profile takes each field from the first of `from` that has it (`from[0]` is the profile
    /// kept in front), is created at `at` with `creation_source` MERGE and a version above every
    /// merged one, and the merged customers are deleted. Notification event ids are
    /// `<event_prefix>-created` and `<event_prefix>-deleted-<old id>`.
    pub fn merge_customers(
        &self,
        from: &[&str],
        new_id: &str,
        at: &str,
        event_prefix: &str,
    ) -> Merge {
        assert!(from.len() >= 2, "Square merges two or more customers");
        let mut data = self.data();
        let old: Vec<Value> = from
            .iter()
            .map(|id| {
                data.customers
                    .remove(*id)
                    .unwrap_or_else(|| panic!("no customer {id} to merge"))
            })
            .collect();
        let mut customer = json!({
            "id": new_id, "created_at": at, "updated_at": at, "creation_source": "MERGE",
            "preferences": {"email_unsubscribed": false},
        });
        for field in [
            "given_name",
            "family_name",
            "nickname",
            "company_name",
            "email_address",
            "address",
            "phone_number",
            "birthday",
            "reference_id",
            "note",
            "preferences",
        ] {
            if let Some(value) = old
                .iter()
                .find_map(|c| c.get(field).filter(|v| !v.is_null()))
            {
                customer[field] = value.clone();
            }
        }
        let newest = old.iter().filter_map(|c| c["version"].as_i64()).max();
        customer["version"] = json!(newest.unwrap_or(0) + 1);
        data.customers.insert(new_id.to_owned(), customer.clone());
        let context = json!({"merge": {"from_customer_ids": from, "to_customer_id": new_id}});
        let created = notification(
            "customer.created",
            &format!("{event_prefix}-created"),
            at,
            "customer",
            new_id,
            json!({"customer": customer, "event_context": context}),
        );
        let deleted = old
            .iter()
            .map(|c| {
                let id = text(c, "id");
                notification(
                    "customer.deleted",
                    &format!("{event_prefix}-deleted-{id}"),
                    at,
                    "customer",
                    &id,
                    json!({"customer": c, "event_context": context}),
                )
            })
            .collect();
        Merge {
            customer,
            created,
            deleted,
        }
    }

    /// Deletes customer `id` for good at `at`, as Square does; returns the `customer.deleted`
    /// notification Square sends (event id `event_id`), which carries the customer as it was.
    pub fn delete_customer(&self, id: &str, at: &str, event_id: &str) -> Value {
        let customer = self
            .data()
            .customers
            .remove(id)
            .unwrap_or_else(|| panic!("no customer {id} to delete"));
        notification(
            "customer.deleted",
            event_id,
            at,
            "customer",
            id,
            json!({"customer": customer}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_merge_is_a_new_customer_and_notifications_with_its_context() {
        let square = SquareServer::start("t").await.unwrap();
        square.put_customer(json!({"id": "A", "given_name": "Ada", "email_address": "a@example.com",
            "created_at": "2026-09-01T00:00:00Z", "updated_at": "2026-09-01T00:00:00Z", "version": 2}));
        square.put_customer(
            json!({"id": "B", "given_name": "Ada L.", "phone_number": "+15550100",
            "birthday": "0000-03-04", "created_at": "2026-09-02T00:00:00Z",
            "updated_at": "2026-09-02T00:00:00Z", "version": 7}),
        );
        let merge = square.merge_customers(&["A", "B"], "N", "2026-10-01T00:00:00Z", "e");
        let ids: Vec<String> = square.customers().iter().map(|c| text(c, "id")).collect();
        assert_eq!(ids, ["N"], "the merged customers are deleted");
        let n = &merge.customer;
        assert_eq!(
            (
                &n["given_name"],
                &n["email_address"],
                &n["phone_number"],
                &n["birthday"]
            ),
            (
                &json!("Ada"),
                &json!("a@example.com"),
                &json!("+15550100"),
                &json!("0000-03-04")
            )
        );
        assert_eq!(
            (&n["version"], &n["creation_source"]),
            (&json!(8), &json!("MERGE"))
        );
        let context = json!({"merge": {"from_customer_ids": ["A", "B"], "to_customer_id": "N"}});
        assert_eq!(merge.created["type"], "customer.created");
        assert_eq!(merge.created["event_id"], "e-created");
        assert_eq!(merge.created["data"]["object"]["event_context"], context);
        let deleted: Vec<(&Value, &Value)> = merge
            .deleted
            .iter()
            .map(|d| (&d["data"]["id"], &d["data"]["object"]["event_context"]))
            .collect();
        assert_eq!(deleted, [(&json!("A"), &context), (&json!("B"), &context)]);

        square.update_customer("N", "2026-10-02T00:00:00Z", |c| c["note"] = json!("VIP"));
        let gone = square.delete_customer("N", "2026-10-03T00:00:00Z", "e-gone");
        assert_eq!(gone["data"]["object"]["customer"]["version"], 9);
        assert!(gone["data"]["object"].get("event_context").is_none());
        assert!(square.customers().is_empty());
    }
}
