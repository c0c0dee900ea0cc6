//! `rapport policy` (the real binary) writes the data policy from the config: each source and
//! sink with its plugin, the fields each sink receives, the retention periods and the identity
//! rules — and a different config gives a different page, never anyone's data.

use rapport_e2e::{output_text, plugin, TestShop};

/// A shop in Britain with the csv-source `till` and two http-sinks: `crm`, sent only
/// `crm_fields`, and `mailer` (under the id given), sent every field.
fn shop(crm_fields: &[&str], mailer: &str) -> TestShop {
    TestShop::new()
        .sqlite()
        .region("GB")
        .source("till", &plugin("csv-source"), [])
        .set("poll_interval_secs", 300.into())
        .sink(
            "crm",
            &plugin("http-sink"),
            [("url", "https://hooks.example.com/secret-token-123".into())],
        )
        .fields(crm_fields)
        .sink(
            mailer,
            &plugin("http-sink"),
            [("url", "https://mailer.example.com/hook".into())],
        )
}

async fn policy(shop: TestShop) -> String {
    let dir = shop.write();
    let output = dir.rapport(&["policy"]).await;
    assert!(output.status.success(), "{}", output_text(&output));
    assert!(
        !dir.path().join("rapport.db").exists(),
        "the policy is read from the config alone"
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The entry of the page about one sink: its line and the indented lines after it.
fn sink_entry(page: &str, id: &str) -> String {
    let head = format!("- \"{id}\", through the http-sink ");
    let mut lines = page.lines().skip_while(|l| !l.starts_with(&head));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no entry for sink {id}:\n{page}"));
    std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with("  ")))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_policy_says_who_gets_what_and_for_how_long_from_the_config() {
    let first = policy(
        shop(&["email", "orders_count", "net_spent"], "mailer")
            .section(
                "identity",
                [(
                    "blocked",
                    vec!["walkin@myshop.co.uk", "+447700900123"].into(),
                )],
            )
            .section(
                "retention",
                [
                    ("events", "400d".into()),
                    ("rejected_inputs", "90d".into()),
                    ("dead_letters", "forever".into()),
                ],
            ),
    )
    .await;

    assert!(
        first.contains("- \"till\", through the csv-source "),
        "{first}"
    );
    assert!(first.contains("checked every 5 minutes"), "{first}");
    let crm = sink_entry(&first, "crm");
    assert!(
        crm.contains(": email address, number of orders and total spent."),
        "{crm}"
    );
    assert!(crm.contains("identified by email address."), "{crm}");
    let mailer = sink_entry(&first, "mailer");
    assert!(
        mailer.contains(": all profile fields (names, contact details and totals)."),
        "{mailer}"
    );
    assert!(first.contains("always receives each customer's marketing choices"));
    assert!(first.contains("Details are kept for 400 days"), "{first}");
    assert!(
        first.contains("Till records that could not be read: kept for 90 days"),
        "{first}"
    );
    assert!(
        first.contains("failed for good: kept with no time limit"),
        "{first}"
    );
    assert!(first.contains("Malformed webhook deliveries: kept for 30 days"));
    assert!(first.contains("every hour while"), "{first}");
    assert!(first.contains("separate identities table"));
    assert!(first.contains("`rapport forget`"));
    assert!(first.contains("dialled in GB"));
    assert!(first.contains("count as written"));
    assert!(first.contains("the 2 values this shop listed"), "{first}");
    // Kinds of data only: not the shop's blocked identifiers, not a sink's URL and its token.
    for private in [
        "walkin@myshop.co.uk",
        "7700900123",
        "secret-token-123",
        "hooks.example.com",
    ] {
        assert!(!first.contains(private), "{private} leaked:\n{first}");
    }
    assert!(first.lines().count() <= 60, "one page:\n{first}");

    let second = policy(
        shop(&["phone", "loyalty_id", "last_order_at"], "newsletter")
            .section(
                "identity",
                [
                    ("gmail_canonical", true.into()),
                    ("priority", vec!["email"].into()),
                    ("limits", toml::toml! { email = 2 }.into()),
                ],
            )
            .section(
                "retention",
                [
                    ("events", "2w".into()),
                    ("rejected_inputs", "forever".into()),
                    ("interval", "6h".into()),
                ],
            ),
    )
    .await;
    assert_ne!(first, second);
    let crm = sink_entry(&second, "crm");
    assert!(
        crm.contains(": phone number, loyalty number and date of last order."),
        "{crm}"
    );
    assert!(
        crm.contains("identified by phone number and loyalty number."),
        "{crm}"
    );
    assert!(!second.contains("\"mailer\""));
    assert!(sink_entry(&second, "newsletter")
        .contains(": all profile fields (names, contact details and totals)."));
    assert!(second.contains("Details are kept for 14 days"), "{second}");
    assert!(second.contains("Till records that could not be read: kept with no time limit"));
    assert!(
        second.contains("failed for good: kept for 90 days"),
        "{second}"
    );
    assert!(second.contains("every 6 hours while"));
    assert!(second.contains("differ only by dots or a +tag count as one person"));
    let merging = second.replace("\n  ", " ");
    assert!(
        merging.contains("Identifiers count in this order: email, POS customer id, loyalty id and phone. A person holds at most 2 emails, 1 POS customer id, 1 loyalty id and 3 phones"),
        "{second}"
    );
    assert!(first
        .replace("\n  ", " ")
        .contains("in this order: POS customer id, loyalty id, email and phone"));
    assert!(!second.contains("this shop listed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_sinks_the_policy_says_nothing_leaves() {
    let page = policy(
        TestShop::new()
            .sqlite()
            .section("retention", [("events", "forever".into())]),
    )
    .await;
    assert!(page.contains("No source is configured"), "{page}");
    assert!(page.contains("no customer data leaves the shop"), "{page}");
    assert!(
        page.contains("Details are kept with no time limit"),
        "{page}"
    );
}
