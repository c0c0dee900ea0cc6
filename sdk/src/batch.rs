//! Sinks that send many items in one vendor request: the answer is read into one outcome per
//! item, and a lost connection or timeout makes every item of the request transient (the host
//! retries them) instead of failing the whole call; any other transport error fails the call.
//! [`per_item`](crate::per_item) is the same for one request per item.

use crate::http::{Request, Response};
use crate::types::{ConnectorError, Outcome};

/// Sends `request` for `items` items and reads the vendor's answer with `read`.
pub fn send(
    request: Request,
    items: usize,
    read: impl FnOnce(&Response) -> Result<Vec<Outcome>, ConnectorError>,
) -> Result<Vec<Outcome>, ConnectorError> {
    lost_is_transient(request.send(), items, read)
}

fn lost_is_transient(
    sent: Result<Response, ConnectorError>,
    items: usize,
    read: impl FnOnce(&Response) -> Result<Vec<Outcome>, ConnectorError>,
) -> Result<Vec<Outcome>, ConnectorError> {
    match sent {
        Ok(response) => read(&response),
        Err(ConnectorError::Transient(why)) => Ok(vec![Outcome::Transient(why); items]),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_fails_every_item_transiently() {
        let lost = Err(ConnectorError::Transient("timed out".into()));
        assert_eq!(
            lost_is_transient(lost, 2, |_| unreachable!()),
            Ok(vec![Outcome::Transient("timed out".into()); 2])
        );
        let denied = Err(ConnectorError::Config("egress denied".into()));
        assert_eq!(
            lost_is_transient(denied, 2, |_| unreachable!()),
            Err(ConnectorError::Config("egress denied".into()))
        );
        let answered = Ok(Response {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
        });
        assert_eq!(
            lost_is_transient(answered, 2, |r| r.outcomes(2)),
            Ok(vec![Outcome::Ok; 2])
        );
    }
}
