//! The live part of the demo: the sales of the last minutes arrive as signed Square webhooks, the
//! shop merges the person Square knew twice (Square announces the new customer and the two it
//! replaced), that person buys again under the merged record, and one delivery is replayed and
//! one forged.

use crate::config::{NOTIFICATION_URL, SIGNATURE_KEY};
use anyhow::bail;
use rapport_fakes::square::{self, SquareServer};
use rapport_fakes::time::rfc3339_utc;
use rapport_fakes::year::YearShop;

/// How the host answered the demo's webhooks.
#[derive(Debug, Default)]
pub struct WebhookAnswers {
    /// Signed deliveries answered 200 (sales and the merge's notifications).
    pub stored: usize,
    /// Replays acknowledged as duplicates.
    pub duplicates: usize,
    /// Forged deliveries refused with 401.
    pub refused: usize,
}

/// One signed delivery, as Square posts it.
struct Delivery {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl From<(Vec<(String, String)>, Vec<u8>)> for Delivery {
    fn from((headers, body): (Vec<(String, String)>, Vec<u8>)) -> Delivery {
        Delivery { headers, body }
    }
}

impl Delivery {
    /// Posts it; anything but 200 stops the demo.
    async fn post(&self, endpoint: &str, what: &str) -> anyhow::Result<String> {
        let (status, answer) = square::deliver(endpoint, &self.headers, &self.body).await?;
        if status != 200 {
            bail!("webhook for {what} answered {status}: {answer}");
        }
        Ok(answer)
    }
}

/// Adds the live sales to Square and announces each with a signed `order.created`; merges the
/// twin's records before their sale; replays the first delivery and forges one more.
pub(crate) async fn send(
    square: &SquareServer,
    year: &YearShop,
    endpoint: &str,
) -> anyhow::Result<WebhookAnswers> {
    let mut answers = WebhookAnswers::default();
    let mut first: Option<Delivery> = None;
    for (n, sale) in year.live.iter().enumerate() {
        if sale.customer == Some(year.twin.email_record) {
            let customers = &year.shop.customers;
            let from = [
                customers[year.twin.email_record].id.as_str(),
                customers[year.twin.phone_record].id.as_str(),
            ];
            let at = square::square_time(&rfc3339_utc(sale.at - 60));
            let merge = square.merge_customers(&from, &year.twin.merged_id, &at, "demo-merge");
            for note in std::iter::once(&merge.created).chain(&merge.deleted) {
                let delivery = Delivery::from(square::signed_delivery(
                    SIGNATURE_KEY,
                    NOTIFICATION_URL,
                    note,
                ));
                delivery.post(endpoint, "the merge").await?;
                answers.stored += 1;
            }
        }
        let order = square::sale_order(sale, year.shop.currency, year.live_buyer_id(sale));
        square.put_order(order);
        let note = square.order_notification("order.created", &sale.id, &format!("demo-evt-{n}"));
        let delivery = Delivery::from(square::signed_delivery(
            SIGNATURE_KEY,
            NOTIFICATION_URL,
            &note,
        ));
        delivery.post(endpoint, &sale.id).await?;
        answers.stored += 1;
        first.get_or_insert(delivery);
    }
    if let Some(Delivery { headers, body }) = first {
        let (status, answer) = square::deliver(endpoint, &headers, &body).await?;
        if status == 200 && answer.contains("\"duplicates\":1") {
            answers.duplicates += 1;
        }
        let mut forged = headers;
        for (name, value) in &mut forged {
            if name == square::SIGNATURE_HEADER {
                *value = square::sign("not-the-key", NOTIFICATION_URL, &body);
            }
        }
        if square::deliver(endpoint, &forged, &body).await?.0 == 401 {
            answers.refused += 1;
        }
    }
    Ok(answers)
}
