//! `rapport policy` (the real binary) writes the data policy from the config: each source and
//! sink with its plugin, the fields each sink receives, the retention periods and the identity
//! rules — and a different config gives a different page, never anyone's data.

use rapport_e2e::{output_text, plugin, ShopDir, SQLITE_LOOPBACK_DEV};

struct Shop<'a> {
    crm_fields: &'a str,
    mailer: &'a str,
    retention: &'a str,
    identity: &'a str,
}

fn config(shop: &Shop) -> String {
    format!(
        r#"{SQLITE_LOOPBACK_DEV}
[shop]
region = "GB"
{identity}
{retention}
[[source]]
id = "till"
plugin = "{csv}"
poll_interval_secs = 300
[[sink]]
id = "crm"
plugin = "{sink}"
{crm_fields}
[sink.config]
url = "https://hooks.example.com/secret-token-123"
[[sink]]
id = "{mailer}"
plugin = "{sink}"
[sink.config]
url = "https://mailer.example.com/hook"
"#,
        identity = shop.identity,
        retention = shop.retention,
        crm_fields = shop.crm_fields,
        mailer = shop.mailer,
        csv = plugin("csv-source").display(),
        sink = plugin("http-sink").display(),
    )
}

async fn policy(text: &str) -> String {
    let dir = ShopDir::new(text);
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
    let first = policy(&config(&Shop {
        crm_fields: r#"fields = ["email", "orders_count", "net_spent"]"#,
        mailer: "mailer",
        retention: "[retention]\nevents = \"400d\"\nrejected_inputs = \"90d\"\ndead_letters = \"forever\"\n",
        identity: "[identity]\nblocked = [\"walkin@myshop.co.uk\", \"+447700900123\"]\n",
    }))
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

    let second = policy(&config(&Shop {
        crm_fields: r#"fields = ["phone", "loyalty_id", "last_order_at"]"#,
        mailer: "newsletter",
        retention:
            "[retention]\nevents = \"2w\"\nrejected_inputs = \"forever\"\ninterval = \"6h\"\n",
        identity:
            "[identity]\ngmail_canonical = true\npriority = [\"email\"]\nlimits = { email = 2 }\n",
    }))
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
    let page = policy(&format!(
        "{SQLITE_LOOPBACK_DEV}[retention]\nevents = \"forever\"\n"
    ))
    .await;
    assert!(page.contains("No source is configured"), "{page}");
    assert!(page.contains("no customer data leaves the shop"), "{page}");
    assert!(
        page.contains("Details are kept with no time limit"),
        "{page}"
    );
}
