//! The Square source on contract 0.3, end to end: the real square-source plugin in the real host
//! pipeline against the Square simulator, checked in what the host stored (the canonical payloads
//! of the `events` table and the rejected inputs). Orders carry Square's version, and the newer
//! version stays current whatever the arrival order; lines carry their catalogue category, looked
//! up once per page and never again for a catalogue version already known; customers carry their
//! birthday, and one that is not a date is a clear rejected input that costs nothing else; a
//! merge Square makes is one `customers_merged` event and a deletion one `customer_deleted`; loyalty
//! accounts arrive by poll and by webhook with their points. Every simulator answer, notification
//! and plugin request met here is checked against Square's OpenAPI document. Expected values are
//! worked out by hand from what each test stages.

use crate::vendor_sales::{line, ms, sale, stored, Stored};
use rapport_e2e::{plugin, vendor_spec, TestShop};
use rapport_fakes::shop::{Line, Receipt};
use rapport_fakes::square::{self, SquareServer};
use rapport_host::config::Config;
use rapport_host::ingest::IngestReport;
use rapport_host::pipeline::Pipeline;
use serde_json::{json, Value};

use std::sync::OnceLock;
use tempfile::TempDir;

const TOKEN: &str = "sq-v03-token";
const SIGNATURE_KEY: &str = "test-signature-key";
const NOTIFICATION_URL: &str = "https://example.com/hooks/square";

/// A pipeline (it polls only when asked) with the square-source reading the High Street till of
/// `square`, `page_limit` records per poll step.
async fn start(square: &SquareServer, page_limit: i64) -> (Pipeline, TempDir) {
    start_with(square, page_limit, |shop| shop).await
}

/// [`start`], with `more` added to the shop's config.
async fn start_with(
    square: &SquareServer,
    page_limit: i64,
    more: impl FnOnce(TestShop) -> TestShop,
) -> (Pipeline, TempDir) {
    let shop = TestShop::new()
        .sqlite()
        .secrets(&[
            ("square_token", TOKEN),
            ("square_signature_key", SIGNATURE_KEY),
        ])
        .source(
            "square",
            &plugin("square-source"),
            [
                ("api_base", square.base_url().into()),
                ("location_ids", square::location_id("High Street").into()),
                ("notification_url", NOTIFICATION_URL.into()),
                ("page_limit", page_limit.into()),
            ],
        );
    let shop = more(shop);
    let dir = tempfile::tempdir().unwrap();
    let text = shop.text(dir.path());
    let pipeline = Pipeline::start(Config::parse(&text, dir.path()).unwrap())
        .await
        .unwrap();
    (pipeline, dir)
}

/// Polls every stream once; the sources must not fail.
async fn poll(pipeline: &Pipeline) -> IngestReport {
    let (report, errors) = pipeline.poll_all_once().await;
    assert!(errors.is_empty(), "{errors:?}");
    report
}

/// A signed Square notification delivered through the host, as Square's sender would.
async fn push(pipeline: &Pipeline, note: &Value) -> IngestReport {
    let (headers, body) = square::signed_delivery(SIGNATURE_KEY, NOTIFICATION_URL, note);
    pipeline
        .intake
        .receive_push("square", headers, body)
        .await
        .unwrap()
}

fn find<'a>(events: &'a [Stored], event_id: &str) -> &'a Stored {
    events
        .iter()
        .find(|e| e.event_id == event_id)
        .unwrap_or_else(|| {
            let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
            panic!("no event {event_id} among {ids:?}")
        })
}

fn of_kind<'a>(events: &'a [Stored], kind: &str) -> Vec<&'a Stored> {
    events.iter().filter(|e| e.kind == kind).collect()
}

fn identity(kind: &str, value: &str) -> Value {
    json!({"kind": kind, "value": value})
}

/// Checks `instance` against `#/components/schemas/<name>` of Square's spec, made strict: an
/// object schema with `properties` refuses properties it does not list. The published document
/// references one schema it does not define (`CatalogModifierToggleOverrideType`, reached from
/// `CatalogObject` through modifier lists, which nothing here uses); it accepts anything.
fn assert_schema(name: &str, instance: &Value) {
    static COMPONENTS: OnceLock<Value> = OnceLock::new();
    let components = COMPONENTS.get_or_init(|| {
        let mut components = vendor_spec("square/api.json")["components"].take();
        strict(&mut components);
        let schemas = components["schemas"].as_object_mut().unwrap();
        schemas
            .entry("CatalogModifierToggleOverrideType")
            .or_insert(json!({}));
        components
    });
    let document =
        json!({"$ref": format!("#/components/schemas/{name}"), "components": components});
    let validator = jsonschema::validator_for(&document).expect("the spec compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} is not valid per Square's spec: {errors:#?}\n{instance:#}"
    );
}

fn strict(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("type") == Some(&json!("object"))
                && map.get("properties").is_some_and(Value::is_object)
                && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".into(), json!(false));
            }
            map.values_mut().for_each(strict);
        }
        Value::Array(items) => items.iter_mut().for_each(strict),
        _ => {}
    }
}

/// The bodies of the requests the plugin sent to `path`, in order.
fn bodies(square: &SquareServer, path: &str) -> Vec<Value> {
    square
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .map(|r| r.body.expect("a JSON body"))
        .collect()
}

/// A sale at the High Street till at `date`, without tax or discount.
fn receipt(id: &str, date: &str, lines: Vec<Line>) -> Receipt {
    sale(id, date, lines, false, 0, 0)
}

/// A Square customer as the Customers API holds one.
fn customer(id: &str, given: &str, family: &str, at: &str) -> Value {
    json!({
        "id": id, "given_name": given, "family_name": family, "created_at": at,
        "updated_at": at, "preferences": {"email_unsubscribed": false},
        "creation_source": "DIRECTORY", "version": 0,
    })
}

// ---- Orders: versions ----

#[tokio::test(flavor = "multi_thread")]
async fn an_order_carries_squares_version_and_the_newer_version_stays_current_whatever_arrives_last(
) {
    let square = SquareServer::start(TOKEN).await.unwrap();
    let (pipeline, _dir) = start(&square, 100).await;
    // An open tab of $12.00 at 10:00 (version 1), paid at 10:05 (version 2).
    let tab = receipt(
        "SQ-V",
        "2026-10-05T10:00:00Z",
        vec![line("LATTE", "Latte", 3, 400)],
    );
    square.put_order(square::unpaid_order(&tab, "USD", Some("CUST-V"), "OPEN"));
    assert_eq!(poll(&pipeline).await.accepted, 1);
    let open = square.order("SQ-V").unwrap();
    square.transition("SQ-V", "COMPLETED", "2026-10-05T10:05:00.000Z");
    assert_eq!(poll(&pipeline).await.accepted, 1);

    // The notification of the first version is handled late: the order it reads (a read that
    // lags behind Square's write) is version 1, older than the version 2 already polled.
    square.lag_next_read("SQ-V", open);
    let note = square.order_notification("order.created", "SQ-V", "evt-v1-late");
    assert_schema("OrderCreatedEvent", &note);
    let report = push(&pipeline, &note).await;
    assert_eq!((report.accepted, report.rejected), (1, 0));

    let events = stored(&pipeline).await;
    let versions: Vec<(&str, &Value, &Value, bool)> = of_kind(&events, "order")
        .into_iter()
        .map(|e| {
            (
                e.event_id.as_str(),
                &e.payload["version"],
                &e.payload["state"],
                e.superseded,
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            ("order:SQ-V:v1", &json!(1), &json!("open"), true),
            ("order:SQ-V:v2", &json!(2), &json!("completed"), false),
            ("evt-v1-late", &json!(1), &json!("open"), true),
        ],
        "version 2 stays current"
    );
    assert!(of_kind(&events, "order")
        .iter()
        .all(|e| e.object_id == "SQ-V"));
}

// ---- Orders: categories from the catalogue ----

/// The shop's catalogue: whole beans (filed under "Coffee beans" by `categories`), a mug
/// (reporting category "Homeware", though also listed under "Coffee beans"), and tea filed the
/// old way (`category_id` "Coffee beans" — this shop files tea there).
fn stock_catalogue(square: &SquareServer) {
    let at = "2026-09-01T08:00:00.000Z";
    square.put_category("CAT-BEANS", "Coffee beans", at);
    square.put_category("CAT-HOME", "Homeware", at);
    let items = [
        square::catalog_item(
            "ITEM-ETH",
            "Ethiopia Yirgacheffe",
            json!({"categories": [{"id": "CAT-BEANS", "ordinal": 0}]}),
            &[("VAR-ETH-250", "250g", 1450)],
            "USD",
        ),
        square::catalog_item(
            "ITEM-MUG",
            "Stoneware mug",
            json!({"reporting_category": {"id": "CAT-HOME"},
                   "categories": [{"id": "CAT-BEANS", "ordinal": 0}]}),
            &[("VAR-MUG", "Regular", 1800)],
            "USD",
        ),
        square::catalog_item(
            "ITEM-SEN",
            "Sencha",
            json!({"category_id": "CAT-BEANS"}),
            &[("VAR-SEN-100", "100g", 900)],
            "USD",
        ),
    ];
    for item in items {
        assert_schema("CatalogObject", &item);
        square.put_catalog_object(item, at);
    }
}

/// The categories of the lines of the stored event `event_id`, in order.
fn categories(events: &[Stored], event_id: &str) -> Vec<Value> {
    find(events, event_id).payload["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["category"].clone())
        .collect()
}

/// The `object_ids` of each catalogue batch retrieve the plugin made, sorted within a request.
fn catalogue_requests(square: &SquareServer) -> Vec<Vec<String>> {
    bodies(square, "/v2/catalog/batch-retrieve")
        .iter()
        .map(|body| {
            assert_schema("BatchRetrieveCatalogObjectsRequest", body);
            let mut ids: Vec<String> = body["object_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_carry_their_catalogue_category_looked_up_once_per_page_and_never_again_for_a_known_version(
) {
    let square = SquareServer::start(TOKEN).await.unwrap();
    stock_catalogue(&square);
    // One order per poll step.
    let (pipeline, _dir) = start(&square, 1).await;
    let sale = |id: &str, at: &str, lines: Vec<Line>| {
        square::sale_order(&receipt(id, at, lines), "USD", None)
    };
    square.put_order(sale(
        "SQ-1",
        "2026-10-05T10:00:00Z",
        vec![
            line("VAR-ETH-250", "Ethiopia Yirgacheffe 250g", 2, 1450),
            line("VAR-MUG", "Stoneware mug", 1, 1800),
        ],
    ));
    // The second line is a custom amount: no catalogue object.
    let mut second = sale(
        "SQ-2",
        "2026-10-05T10:05:00Z",
        vec![
            line("VAR-SEN-100", "Sencha 100g", 1, 900),
            line("-", "Custom amount", 1, 250),
        ],
    );
    second["line_items"][1]
        .as_object_mut()
        .unwrap()
        .remove("catalog_object_id");
    square.put_order(second);
    let sold_at = square.order("SQ-1").unwrap()["line_items"][0]["catalog_version"].clone();
    assert_eq!(
        sold_at,
        square.catalog_object("VAR-ETH-250").unwrap()["version"],
        "a line rung up from the catalogue names the variation's version"
    );
    assert_schema("Order", &square.order("SQ-2").unwrap());

    assert_eq!(poll(&pipeline).await.accepted, 2);
    // Page 1 (SQ-1): its two variations (their items come along), then the two categories those
    // items are filed under (Square's related objects go one level deep). Page 2 (SQ-2): the tea,
    // whose category is known by now.
    let mut expected = vec![
        vec!["VAR-ETH-250".to_owned(), "VAR-MUG".to_owned()],
        vec!["CAT-BEANS".to_owned(), "CAT-HOME".to_owned()],
        vec!["VAR-SEN-100".to_owned()],
    ];
    assert_eq!(catalogue_requests(&square), expected);
    let events = stored(&pipeline).await;
    assert_eq!(
        categories(&events, "order:SQ-1:v1"),
        [json!("Coffee beans"), json!("Homeware")]
    );
    assert_eq!(
        categories(&events, "order:SQ-2:v1"),
        [json!("Coffee beans"), Value::Null]
    );

    // The next poll reads SQ-2 again (the watermark is inclusive) and a new sale of beans at the
    // same catalogue version: nothing to ask.
    square.put_order(sale(
        "SQ-3",
        "2026-10-05T10:10:00Z",
        vec![line("VAR-ETH-250", "Ethiopia Yirgacheffe 250g", 1, 1450)],
    ));
    assert_eq!(poll(&pipeline).await.accepted, 1);
    assert_eq!(catalogue_requests(&square), expected, "nothing new asked");
    let events = stored(&pipeline).await;
    assert_eq!(
        categories(&events, "order:SQ-3:v1"),
        [json!("Coffee beans")]
    );

    // The mug's price changes: a new catalogue version, so a mug sold now is asked about once;
    // its category name is known.
    let mut mug = square.catalog_object("ITEM-MUG").unwrap();
    mug["item_data"]["variations"][0]["item_variation_data"]["price_money"]["amount"] = json!(2000);
    square.put_catalog_object(mug, "2026-10-05T11:00:00.000Z");
    square.put_order(sale(
        "SQ-4",
        "2026-10-05T11:30:00Z",
        vec![line("VAR-MUG", "Stoneware mug", 1, 2000)],
    ));
    assert_eq!(poll(&pipeline).await.accepted, 1);
    expected.push(vec!["VAR-MUG".to_owned()]);
    assert_eq!(catalogue_requests(&square), expected);
    let events = stored(&pipeline).await;
    assert_eq!(categories(&events, "order:SQ-4:v1"), [json!("Homeware")]);

    // A notification has no cursor: it asks for its own lines, variations then categories.
    square.put_order(sale(
        "SQ-5",
        "2026-10-05T12:00:00Z",
        vec![line("VAR-ETH-250", "Ethiopia Yirgacheffe 250g", 1, 1450)],
    ));
    let note = square.order_notification("order.created", "SQ-5", "evt-sq-5");
    assert_eq!(push(&pipeline, &note).await.accepted, 1);
    expected.push(vec!["VAR-ETH-250".to_owned()]);
    expected.push(vec!["CAT-BEANS".to_owned()]);
    assert_eq!(catalogue_requests(&square), expected);
    let events = stored(&pipeline).await;
    assert_eq!(categories(&events, "evt-sq-5"), [json!("Coffee beans")]);

    // What the simulator answered is Square's shape.
    let answer = reqwest::Client::new()
        .post(format!("{}/v2/catalog/batch-retrieve", square.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({"object_ids": ["VAR-MUG"], "include_related_objects": true}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_schema("BatchRetrieveCatalogObjectsResponse", &answer);
    assert_eq!(answer["related_objects"][0]["id"], "ITEM-MUG");
}

// ---- Customers: birthdays ----

#[tokio::test(flavor = "multi_thread")]
async fn birthdays_arrive_with_and_without_a_year_and_one_that_is_no_date_is_a_clear_rejection() {
    let square = SquareServer::start(TOKEN).await.unwrap();
    // The shop keeps birth years (by default the host keeps only the day and month).
    let (pipeline, _dir) = start_with(&square, 100, |shop| {
        shop.section("privacy", [("keep_birth_year", true.into())])
    })
    .await;
    let born = |id: &str, name: &str, birthday: &str, minute: u32| {
        let mut c = customer(
            id,
            name,
            "Example",
            &format!("2026-09-01T10:{minute:02}:00.000Z"),
        );
        c["birthday"] = json!(birthday);
        c["email_address"] = json!(format!("{}@example.com", name.to_lowercase()));
        assert_schema("Customer", &c);
        c
    };
    square.put_customer(born("C-FULL", "Ada", "1990-07-14", 0));
    square.put_customer(born("C-LEAP", "Bea", "0000-02-29", 1));
    square.put_customer(born("C-BAD", "Cal", "1990-02-30", 2));

    let report = poll(&pipeline).await;
    assert_eq!((report.accepted, report.rejected), (3, 1));
    let events = stored(&pipeline).await;
    let birthday = |id: &str| customer_event(&events, id).payload["birthday"].clone();
    assert_eq!(
        birthday("C-FULL"),
        json!({"month": 7, "day": 14, "year": 1990})
    );
    assert_eq!(
        birthday("C-LEAP"),
        json!({"month": 2, "day": 29, "year": null})
    );
    // The customer whose birthday is no date is kept, without it.
    assert_eq!(birthday("C-BAD"), Value::Null);
    let cal = &customer_event(&events, "C-BAD").payload;
    assert_eq!(cal["given_name"], "Cal");
    assert_eq!(
        cal["identities"],
        json!([
            identity("vendor_customer", "C-BAD"),
            identity("email", "cal@example.com")
        ])
    );
    let refused = pipeline.store.rejected_inputs("square").await.unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].locator, "customer C-BAD");
    assert_eq!(
        refused[0].reason,
        "birthday \"1990-02-30\" is not a date (month 2 of 1990 has no day 30); \
         the customer is kept without a birthday"
    );

    // Read again at the watermark (C-BAD is the newest), it is not refused again.
    let report = poll(&pipeline).await;
    assert_eq!((report.accepted, report.rejected), (0, 0));

    // The same by webhook: a customer corrects their birthday to another day that does not exist.
    square.update_customer("C-FULL", "2026-10-01T09:00:00.000Z", |c| {
        c["birthday"] = json!("1990-04-31")
    });
    let note = square.customer_notification("customer.updated", "C-FULL", "evt-c-full");
    assert_schema("CustomerUpdatedEvent", &note);
    let report = push(&pipeline, &note).await;
    assert_eq!((report.accepted, report.rejected), (1, 1));
    let refused = pipeline.store.rejected_inputs("square").await.unwrap();
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[1].locator, "customer C-FULL");
    assert_eq!(
        refused[1].reason,
        "birthday \"1990-04-31\" is not a date (month 4 of 1990 has no day 31); \
         the customer is kept without a birthday"
    );
    let events = stored(&pipeline).await;
    assert_eq!(find(&events, "evt-c-full").payload["birthday"], Value::Null);
}

/// The first stored customer event of Square customer `id` (`customer:<id>:<updated_at>`).
fn customer_event<'a>(events: &'a [Stored], id: &str) -> &'a Stored {
    let prefix = format!("customer:{id}:");
    events
        .iter()
        .find(|e| e.kind == "customer" && e.event_id.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no customer event of {id}"))
}

// ---- Customers: merges and deletions ----

#[tokio::test(flavor = "multi_thread")]
async fn a_square_merge_is_one_customers_merged_event_and_a_deletion_one_customer_deleted() {
    let square = SquareServer::start(TOKEN).await.unwrap();
    let (pipeline, _dir) = start(&square, 100).await;
    // Ada twice: once by email (with her birthday, no year), once by phone; and Gil.
    let mut by_email = customer("C-OLD-1", "Ada", "Lovelace", "2026-09-01T10:00:00.000Z");
    by_email["email_address"] = json!("ada@example.com");
    by_email["birthday"] = json!("0000-12-10");
    let mut by_phone = customer("C-OLD-2", "Ada", "L.", "2026-09-02T10:00:00.000Z");
    by_phone["phone_number"] = json!("+447700900123");
    by_phone["version"] = json!(4);
    let mut gil = customer("C-GONE", "Gil", "Example", "2026-09-03T10:00:00.000Z");
    gil["email_address"] = json!("gil@example.com");
    gil["phone_number"] = json!("+447700900999");
    for c in [by_email, by_phone, gil] {
        square.put_customer(c);
    }
    assert_eq!(poll(&pipeline).await.accepted, 3);

    // Square merges the two into a new customer and deletes them.
    let merge = square.merge_customers(
        &["C-OLD-1", "C-OLD-2"],
        "C-NEW",
        "2026-10-01T12:00:00.000Z",
        "evt-merge",
    );
    assert_eq!(
        merge.customer["version"], 5,
        "above the merged ones' 0 and 4"
    );
    assert_schema("Customer", &merge.customer);
    assert_schema("CustomerCreatedEvent", &merge.created);
    for note in &merge.deleted {
        assert_schema("CustomerDeletedEvent", note);
    }
    let report = push(&pipeline, &merge.created).await;
    assert_eq!((report.accepted, report.rejected), (1, 0));
    for note in &merge.deleted {
        let report = push(&pipeline, note).await;
        assert_eq!(
            (report.accepted, report.duplicates, report.rejected),
            (0, 0, 0),
            "a merge's deletion reports nothing"
        );
    }
    // Redelivered, the merge is the same event.
    let report = push(&pipeline, &merge.created).await;
    assert_eq!((report.accepted, report.duplicates), (0, 1));

    // Gil is deleted for good.
    let gone = square.delete_customer("C-GONE", "2026-10-02T09:00:00.000Z", "evt-gone");
    assert_schema("CustomerDeletedEvent", &gone);
    let report = push(&pipeline, &gone).await;
    assert_eq!((report.accepted, report.rejected), (1, 0));

    let events = stored(&pipeline).await;
    let merges = of_kind(&events, "customers_merged");
    assert_eq!(merges.len(), 1, "{merges:?}");
    let merged = merges[0];
    assert_eq!(merged.event_id, "evt-merge-created");
    assert_eq!(merged.payload["replaced"], json!(["C-OLD-1", "C-OLD-2"]));
    let survivor = &merged.payload["survivor"];
    // Each field from the first merged profile that has it: names and email from the first,
    // the phone from the second.
    assert_eq!(
        survivor["identities"],
        json!([
            identity("vendor_customer", "C-NEW"),
            identity("email", "ada@example.com"),
            identity("phone", "+447700900123"),
        ])
    );
    assert_eq!(
        (&survivor["given_name"], &survivor["family_name"]),
        (&json!("Ada"), &json!("Lovelace"))
    );
    assert_eq!(
        survivor["birthday"],
        json!({"month": 12, "day": 10, "year": null})
    );
    assert_eq!(
        ms(survivor["created_at"].as_str().unwrap()),
        ms("2026-10-01T12:00:00Z")
    );

    let deletions = of_kind(&events, "customer_deleted");
    assert_eq!(deletions.len(), 1, "only Gil's: {deletions:?}");
    assert_eq!(deletions[0].event_id, "evt-gone");
    assert_eq!(
        deletions[0].payload["identities"],
        json!([
            identity("vendor_customer", "C-GONE"),
            identity("email", "gil@example.com"),
            identity("phone", "+447700900999"),
        ])
    );

    // The next poll reads the new customer as any customer; the merged and deleted ones are gone.
    let report = poll(&pipeline).await;
    assert_eq!(report.accepted, 1);
    let events = stored(&pipeline).await;
    let last = events.last().unwrap();
    assert_eq!(last.kind, "customer");
    assert!(last.event_id.starts_with("customer:C-NEW:"), "{last:?}");
}

// ---- Loyalty ----

fn loyalty(events: &[Stored], event_id: &str) -> Value {
    let e = find(events, event_id);
    assert_eq!(e.kind, "loyalty_changed", "{e:?}");
    e.payload["customer"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn loyalty_accounts_arrive_by_poll_and_by_webhook_with_balance_and_lifetime_points() {
    let square = SquareServer::start(TOKEN).await.unwrap();
    // Two accounts per page: three accounts take two pages.
    let (pipeline, _dir) = start(&square, 2).await;
    square.create_loyalty_account("LA-1", "+14155551111", Some("C-L1"), "2026-10-01T09:00:00Z");
    square.create_loyalty_account("LA-2", "+14155552222", None, "2026-10-01T09:05:00Z");
    square.create_loyalty_account("LA-3", "+14155553333", Some("C-L3"), "2026-10-01T09:10:00Z");
    // LA-1 earns 120 points at 10:00.
    square.adjust_loyalty_points("LA-1", 120, "2026-10-01T10:00:00Z");

    assert_eq!(poll(&pipeline).await.accepted, 3);
    let events = stored(&pipeline).await;
    let first = loyalty(&events, "loyalty:LA-1:2026-10-01T10:00:00Z");
    assert_eq!(
        first["identities"],
        json!([
            identity("vendor_customer", "C-L1"),
            identity("loyalty_id", "LA-1"),
            identity("phone", "+14155551111"),
        ])
    );
    assert_eq!(
        first["loyalty"],
        json!({"id": "LA-1", "balance": 120, "lifetime": 120})
    );
    let second = loyalty(&events, "loyalty:LA-2:2026-10-01T09:05:00Z");
    assert_eq!(
        second["identities"],
        json!([
            identity("loyalty_id", "LA-2"),
            identity("phone", "+14155552222")
        ])
    );
    assert_eq!(
        second["loyalty"],
        json!({"id": "LA-2", "balance": 0, "lifetime": 0})
    );
    let searches = bodies(&square, "/v2/loyalty/accounts/search");
    assert_eq!(searches.len(), 2, "two pages");
    for body in &searches {
        assert_schema("SearchLoyaltyAccountsRequest", body);
    }
    assert_eq!(searches[0], json!({"limit": 2}));
    assert!(searches[1]["cursor"].is_string());

    // LA-1 redeems 150 points at 11:00 (a reward, after a manual adjustment allowed it): the
    // balance goes below zero, the lifetime points stay.
    square.adjust_loyalty_points("LA-1", -150, "2026-10-01T11:00:00Z");
    let note = square.loyalty_notification("loyalty.account.updated", "LA-1", "evt-loyalty-1");
    assert_schema("LoyaltyAccountUpdatedEvent", &note);
    let report = push(&pipeline, &note).await;
    assert_eq!((report.accepted, report.rejected), (1, 0));
    let redelivered = push(&pipeline, &note).await;
    assert_eq!((redelivered.accepted, redelivered.duplicates), (0, 1));
    let events = stored(&pipeline).await;
    let pushed = loyalty(&events, "evt-loyalty-1");
    assert_eq!(
        pushed["loyalty"],
        json!({"id": "LA-1", "balance": -30, "lifetime": 120})
    );
    assert_eq!(pushed["identities"][1], identity("loyalty_id", "LA-1"));

    // The poll reads only accounts updated since its watermark (10:00, inclusive): LA-1 at 11:00.
    assert_eq!(poll(&pipeline).await.accepted, 1);
    let events = stored(&pipeline).await;
    assert_eq!(
        loyalty(&events, "loyalty:LA-1:2026-10-01T11:00:00Z")["loyalty"],
        json!({"id": "LA-1", "balance": -30, "lifetime": 120})
    );
    // Nothing changed: LA-1 is read again at the watermark and dropped as already stored.
    let report = poll(&pipeline).await;
    assert_eq!((report.accepted, report.duplicates), (0, 1));

    // A new account by webhook (created), and LA-3 earning points by poll.
    square.create_loyalty_account("LA-4", "+14155554444", None, "2026-10-01T12:00:00Z");
    let note = square.loyalty_notification("loyalty.account.created", "LA-4", "evt-loyalty-4");
    assert_schema("LoyaltyAccountCreatedEvent", &note);
    assert_eq!(push(&pipeline, &note).await.accepted, 1);
    square.adjust_loyalty_points("LA-3", 45, "2026-10-01T12:30:00Z");
    // LA-4 (12:00) and LA-3 (12:30) are newer than the watermark (11:00).
    assert_eq!(poll(&pipeline).await.accepted, 2);
    let events = stored(&pipeline).await;
    assert_eq!(
        loyalty(&events, "loyalty:LA-3:2026-10-01T12:30:00Z")["loyalty"],
        json!({"id": "LA-3", "balance": 45, "lifetime": 45})
    );
    assert_eq!(
        loyalty(&events, "evt-loyalty-4")["loyalty"],
        json!({"id": "LA-4", "balance": 0, "lifetime": 0})
    );
    // Three by the first poll, the 11:00 change by webhook and by poll, LA-4 by webhook and by
    // poll, LA-3's points.
    assert_eq!(of_kind(&events, "loyalty_changed").len(), 8);

    // What the simulator answers is Square's shape.
    let answer = reqwest::Client::new()
        .post(format!("{}/v2/loyalty/accounts/search", square.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({"query": {"mappings": [{"phone_number": "+14155551111"}]}}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_schema("SearchLoyaltyAccountsResponse", &answer);
    assert_eq!(answer["loyalty_accounts"][0]["id"], "LA-1");
}

// ---- When the catalogue or Loyalty cannot answer ----

#[tokio::test(flavor = "multi_thread")]
async fn a_catalogue_or_loyalty_programme_that_cannot_answer_never_loses_a_sale() {
    let square = SquareServer::start(TOKEN).await.unwrap();
    stock_catalogue(&square);
    let (pipeline, _dir) = start(&square, 100).await;
    let sale = |id: &str, at: &str, sku: &str, product: &str, price: i64| {
        let order = square::sale_order(
            &receipt(id, at, vec![line(sku, product, 1, price)]),
            "USD",
            None,
        );
        square.put_order(order);
    };
    const CATALOGUE: &str = "/v2/catalog/batch-retrieve";
    const LOYALTY: &str = "/v2/loyalty/accounts/search";

    // The catalogue is down: the poll step fails and stores nothing, so it is read again.
    sale(
        "SQ-1",
        "2026-10-05T10:00:00Z",
        "VAR-ETH-250",
        "Ethiopia 250g",
        1450,
    );
    square.refuse(CATALOGUE, Some(503));
    let (report, errors) = pipeline.poll_all_once().await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].to_string().contains("stream orders"),
        "{}",
        errors[0]
    );
    assert_eq!(report.accepted, 0);
    assert!(stored(&pipeline).await.is_empty());
    square.refuse(CATALOGUE, None);
    assert_eq!(poll(&pipeline).await.accepted, 1);
    let events = stored(&pipeline).await;
    assert_eq!(
        categories(&events, "order:SQ-1:v1"),
        [json!("Coffee beans")]
    );

    // The token may not read the catalogue: the sale arrives without a category, and nothing is
    // remembered, so the next mug sold once the catalogue answers has its category.
    square.refuse(CATALOGUE, Some(403));
    sale(
        "SQ-2",
        "2026-10-05T10:05:00Z",
        "VAR-MUG",
        "Stoneware mug",
        1800,
    );
    assert_eq!(poll(&pipeline).await.accepted, 1);
    square.refuse(CATALOGUE, None);
    sale(
        "SQ-3",
        "2026-10-05T10:10:00Z",
        "VAR-MUG",
        "Stoneware mug",
        1800,
    );
    assert_eq!(poll(&pipeline).await.accepted, 1);
    let events = stored(&pipeline).await;
    assert_eq!(categories(&events, "order:SQ-2:v1"), [Value::Null]);
    assert_eq!(categories(&events, "order:SQ-3:v1"), [json!("Homeware")]);

    // A shop without a loyalty programme (Square's 404): the other streams go on, no error.
    square.refuse(LOYALTY, Some(404));
    square.create_loyalty_account("LA-1", "+14155551111", None, "2026-10-05T11:00:00Z");
    sale(
        "SQ-4",
        "2026-10-05T11:00:00Z",
        "VAR-SEN-100",
        "Sencha 100g",
        900,
    );
    assert_eq!(poll(&pipeline).await.accepted, 1, "the sale");
    // Once the programme can be read, its accounts arrive.
    square.refuse(LOYALTY, None);
    assert_eq!(poll(&pipeline).await.accepted, 1, "the account");
    let events = stored(&pipeline).await;
    assert_eq!(
        loyalty(&events, "loyalty:LA-1:2026-10-05T11:00:00Z")["loyalty"],
        json!({"id": "LA-1", "balance": 0, "lifetime": 0})
    );
}

// ---- What the host makes of a Square merge, loyalty and birthdays ----

/// The stored profile an identity names, as the store snapshots it.
async fn person(pipeline: &Pipeline, kind: &str, value: &str) -> rapport_store::ProfileSnapshot {
    let kind = rapport_core::model::IdentityKind::parse(kind).unwrap();
    let found = pipeline
        .store
        .find_profiles(&[rapport_store::PersonRef::Identity(
            rapport_core::model::Identity {
                kind,
                value: value.into(),
            },
        )])
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{value} names one person: {found:?}");
    let id = found[0].id;
    pipeline
        .store
        .profile_snapshots(&[id], rapport_store::SnapshotDepth::Full)
        .await
        .unwrap()
        .remove(&id)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_customers_square_merged_are_one_person_with_both_orders_her_points_and_her_birthday() {
    let square = SquareServer::start(TOKEN).await.unwrap();
    let crm = rapport_fakes::capture::CaptureServer::start()
        .await
        .unwrap();
    let crm_url = crm.url();
    let (pipeline, _dir) =
        start_with(&square, 100, |shop| shop.http_sink("crm", &crm_url, [])).await;
    // Ada by email (birthday 10 December, no year) bought a mug; Ada by phone bought two lattes
    // and joined the loyalty programme, where she earned 120 points.
    let mut by_email = customer("C-OLD-1", "Ada", "Lovelace", "2026-09-01T10:00:00.000Z");
    by_email["email_address"] = json!("ada@example.com");
    by_email["birthday"] = json!("0000-12-10");
    let mut by_phone = customer("C-OLD-2", "Ada", "L.", "2026-09-02T10:00:00.000Z");
    by_phone["phone_number"] = json!("+442079460123");
    square.put_customer(by_email);
    square.put_customer(by_phone);
    let mug = receipt(
        "SQ-M1",
        "2026-09-05T10:00:00Z",
        vec![line("MUG-STONE", "Stoneware mug", 1, 1800)],
    );
    square.put_order(square::sale_order(&mug, "USD", Some("C-OLD-1")));
    let lattes = receipt(
        "SQ-M2",
        "2026-09-06T10:00:00Z",
        vec![line("LATTE", "Latte", 2, 450)],
    );
    square.put_order(square::sale_order(&lattes, "USD", Some("C-OLD-2")));
    square.create_loyalty_account(
        "LA-9",
        "+442079460123",
        Some("C-OLD-2"),
        "2026-09-06T10:05:00Z",
    );
    square.adjust_loyalty_points("LA-9", 120, "2026-09-06T10:06:00Z");
    poll(&pipeline).await;
    let by_email = person(&pipeline, "email", "ada@example.com").await;
    let by_phone = person(&pipeline, "phone", "+442079460123").await;
    assert_ne!(
        by_email.key, by_phone.key,
        "two people until Square merges them"
    );
    assert_eq!((by_email.orders_count, by_phone.orders_count), (1, 1));

    // Square merges them into C-NEW.
    let merge = square.merge_customers(
        &["C-OLD-1", "C-OLD-2"],
        "C-NEW",
        "2026-10-01T12:00:00.000Z",
        "evt-merge",
    );
    push(&pipeline, &merge.created).await;
    for note in &merge.deleted {
        push(&pipeline, note).await;
    }

    // One person, the older profile (Ada by email), known by every id Square gave her.
    let ada = person(&pipeline, "vendor_customer", "square:C-NEW").await;
    assert_eq!(ada.key, by_email.key);
    for (kind, value) in [
        ("vendor_customer", "square:C-OLD-1"),
        ("vendor_customer", "square:C-OLD-2"),
        ("phone", "+442079460123"),
        ("loyalty_id", "LA-9"),
    ] {
        assert_eq!(person(&pipeline, kind, value).await.key, ada.key, "{value}");
    }
    // Both orders: $18.00 + 2 × $4.50; her points; her birthday without a year.
    assert_eq!(ada.orders_count, 2);
    assert_eq!(ada.net_spent.as_ref().map(|m| m.minor), Some(2700));
    assert_eq!(
        ada.loyalty
            .as_ref()
            .map(|l| (l.id.as_str(), l.balance, l.lifetime)),
        Some(("LA-9", 120, 120))
    );
    assert_eq!(
        ada.birthday.map(|b| (b.month, b.day, b.year)),
        Some((12, 10, None))
    );
    // The merge is on record as Square's, with the notification as evidence: Ada by phone went
    // into Ada by email, and so did the profile the new id was first given (two customer ids of
    // one source never link by the shop's own rule, so only Square's word joins them).
    let merges = pipeline.store.merge_history(ada.id).await.unwrap();
    assert_eq!(merges.len(), 2, "{merges:?}");
    for merge in &merges {
        assert_eq!(
            (
                merge.reason.as_str(),
                merge.evidence.as_str(),
                merge.survivor_key.as_str()
            ),
            ("square merge", "square:evt-merge-created", ada.key.as_str())
        );
    }
    assert!(
        merges.iter().any(|m| m.absorbed_key == by_phone.key),
        "{merges:?}"
    );

    // A sale that still names an old id belongs to her.
    let cup = receipt(
        "SQ-M3",
        "2026-10-02T10:00:00Z",
        vec![line("CUP", "Espresso cup", 1, 900)],
    );
    square.put_order(square::sale_order(&cup, "USD", Some("C-OLD-2")));
    poll(&pipeline).await;
    let ada = person(&pipeline, "email", "ada@example.com").await;
    assert_eq!(ada.orders_count, 3);

    // The CRM holds her as one contact with the totals, points and birthday.
    pipeline
        .drain(
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    let captured = crm.captured();
    let profile = &captured.profiles[&ada.key];
    assert_eq!(profile["traits"]["orders_count"], 3, "{profile}");
    assert_eq!(profile["traits"]["loyalty_points"], 120, "{profile}");
    assert_eq!(profile["traits"]["birthday"], "--12-10", "{profile}");
}
